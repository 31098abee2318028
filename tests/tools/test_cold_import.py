"""A function imports what its own role needs: app.py reaches each role through roots.

Each function is started once as a cold Lambda would be (a fresh process with a
deployed function's environment, bench_cold_start's, ``_HANDLER`` naming its
handler): ``import app``, then its first invocation on an empty batch;
``sys.modules`` is read after each. Run as one function, app.py imports that
function's roles itself (so its first call imports none). So is a process that
only imported app with no ``_HANDLER`` (chalice local, tests): no role at all. The
API is started twice, as bench_cold_start measures it: ``GET /health`` (public,
a constant body: no pydantic) and ``POST /users`` with a valid token.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata

import pytest
from bench_cold_start import (
    API_REGISTRATION,
    APP_DIR,
    function_environment,
    invocation,
    lambda_environment,
    lambda_handler,
    token_issuer,
)
from tf_outputs_to_chalice import (
    API_HANDLER,
    FIREHOSE_PROCESSORS,
    HANDLERS,
    REPLAY_WORKER_HANDLER,
    SEARCH_LATE_REDACTION_HANDLER,
    SQS_CONSUMERS,
)

from chalicelib.entrypoints import roots

# The API's route groups, and what all its routes but the public ones use: token verification.
ROUTE_GROUPS = ("accounts", "consumer_views", "document", "search_queries", "users")
API_ROOTS = (*ROUTE_GROUPS, "caller", "responses", "api_commands")
# What only the API uses: its roots, request and response models (email validation),
# OpenAPI, token verification, the HTTP operations.
API_ONLY = (
    *(f"chalicelib.entrypoints.roots.{root}" for root in API_ROOTS),
    "chalicelib.entrypoints.api_routes",
    "chalicelib.entrypoints.api_models",
    "chalicelib.entrypoints.openapi",
    "chalicelib.service.users",
    "chalicelib.service.accounts",
    "chalicelib.adapters.identity",
    "chalicelib.adapters.tokens",
    "email_validator",
)
# Opening personal fields (cryptography), and querying the search index.
PERSONAL_DATA = (
    "chalicelib.adapters.personal_data",
    "chalicelib.entrypoints.roots.vault",
    "cryptography",
)
# What importing PyJWT loaded with it (its algorithm table), about 60 ms of CPU.
HEAVY_CRYPTOGRAPHY = (
    "jwt",
    "cryptography.x509",
    "cryptography.hazmat.primitives.serialization.ssh",
    "cryptography.hazmat.primitives.asymmetric.ec",
)
SEARCH_CLIENT = ("chalicelib.adapters.search.opensearch", "chalicelib.adapters.search.transport")
NON_API = [h for h in HANDLERS if h != API_HANDLER]

# The child imports app, makes the call (if any), then reports what it loaded after each,
# which of the app's pydantic models are built (none is, unless pydantic's model machinery
# is loaded), the app's dataclasses it defined, and the handler of each function Chalice
# deploys (a function's _HANDLER).
CHILD = """\
import json, sys
import app
imported = sorted(sys.modules)
{call}
def _built():
    main = sys.modules.get("pydantic.main")
    if main is None:
        return []
    models, seen = [], [main.BaseModel]
    while seen:
        for model in seen.pop().__subclasses__():
            seen.append(model)
            if model.__module__.startswith("chalicelib.") and model.__pydantic_complete__:
                models.append(model.__name__)
    return sorted(models)
def _dataclasses():
    found = []
    for name, module in list(sys.modules.items()):
        if name == "app" or name.startswith(("chalicelib.", "projections.")):
            for value in vars(module).values():
                defined_here = isinstance(value, type) and value.__module__ == name
                if defined_here and "__dataclass_fields__" in vars(value):
                    found.append(f"{{name}}.{{value.__qualname__}}")
    return sorted(found)
deployed = [*app.app.event_sources, *app.app.pure_lambda_functions]
print(json.dumps({{
    "imported": imported,
    "modules": sorted(sys.modules),
    "built": _built(),
    "dataclasses": _dataclasses(),
    "handlers": {{function.name: function.handler_string for function in deployed}},
}}))
"""
# Each function's role (app.py reaches it as ``roots.<role>``), and the roles there are.
ROLE_OF = {
    "ledger_relay": "relay",
    "user_events_fanout": "fanout",
    "projector": "projector",
    "search_erasure": "search",
    SEARCH_LATE_REDACTION_HANDLER: "late_redaction",
    REPLAY_WORKER_HANDLER: "replay",
    **{handler: "search" for handler in FIREHOSE_PROCESSORS},
    **{handler: "subscribers" for handler in SQS_CONSUMERS.values()},
}
# The late redaction redoes the search role's redaction with its index (roots.late_redaction).
ALSO_USES = {SEARCH_LATE_REDACTION_HANDLER: {"search"}}
ROLES = frozenset(roots.__all__)
# No call: a function's process right after ``import app``, before its first event.
IMPORT_ONLY = "import app"


@dataclass(frozen=True)
class ColdStart:
    """What a fresh process had loaded after ``import app`` and after its first call, the
    app's models it built, the app's dataclasses it defined, and the handler string of
    each function Chalice registered."""

    imported: set[str]
    modules: set[str]
    built: set[str]
    dataclasses: set[str]
    handlers: dict[str, str]


def _cold_start(handler: str, env: dict[str, str], token: str) -> ColdStart:
    if handler == IMPORT_ONLY:
        call = ""
    else:
        call, env = invocation(handler, token), function_environment(env, handler)
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(call=call)],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Handlers log and emit metrics on stdout first; the child's report is the last line.
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return ColdStart(
        set(report["imported"]),
        set(report["modules"]),
        set(report["built"]),
        set(report["dataclasses"]),
        report["handlers"],
    )


@pytest.fixture(scope="module")
def cold_starts() -> dict[str, ColdStart]:
    """Each function's process (its ``_HANDLER`` set), and one importing app with none.

    One fresh process per function (two for the API), two at a time, shared by this
    module's tests. The API's token is signed by bench_cold_start's stand-in pool.
    """
    starts = [IMPORT_ONLY, *HANDLERS, API_REGISTRATION]
    env = lambda_environment([APP_DIR, APP_DIR / "vendor"])
    with token_issuer(env) as token, ThreadPoolExecutor(max_workers=2) as pool:
        started = pool.map(lambda start: _cold_start(start, env, token), starts)
        return dict(zip(starts, started, strict=True))


@pytest.fixture(scope="module")
def loaded_by(cold_starts: dict[str, ColdStart]) -> dict[str, set[str]]:
    """What each function had loaded after its first call, and after ``import app`` alone."""
    return {start: cold.modules for start, cold in cold_starts.items()}


def _found(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in names))


ROOTS = "chalicelib.entrypoints.roots."


def _roles(loaded: set[str]) -> set[str]:
    return {
        m.removeprefix(ROOTS).split(".")[0]
        for m in _found(loaded, tuple(f"{ROOTS}{r}" for r in ROLES))
    }


def test_every_function_has_its_role_named_here_and_each_role_is_a_root() -> None:
    assert set(ROLE_OF) == set(NON_API)
    assert set(ROLE_OF.values()) <= ROLES
    assert set(API_ROOTS) - {"api_commands"} <= ROLES


def test_importing_app_imports_no_role(loaded_by: dict[str, set[str]]) -> None:
    # WHEN a fresh process that does not run as one function (no _HANDLER: chalice local,
    # tests, scripts) imports app and calls nothing
    loaded = loaded_by[IMPORT_ONLY]
    # THEN it has imported no function's role, nothing only the API uses, no search
    # client and nothing that opens personal data
    assert _roles(loaded) == set()
    assert _found(loaded, API_ONLY + SEARCH_CLIENT + PERSONAL_DATA) == []


@pytest.mark.parametrize("handler", NON_API)
def test_a_function_imports_its_own_role_and_no_other(
    handler: str, loaded_by: dict[str, set[str]]
) -> None:
    # WHEN a fresh process imports app and invokes the handler (an empty batch, GET /health)
    roles = _roles(loaded_by[handler])
    # THEN it imported its role and, of the others, at most one it reuses (ALSO_USES)
    assert ROLE_OF[handler] in roles
    assert roles - {ROLE_OF[handler]} <= ALSO_USES.get(handler, set())


@pytest.mark.parametrize("handler", NON_API)
def test_a_function_imports_neither_the_api_nor_what_its_role_does_not_use(
    handler: str, loaded_by: dict[str, set[str]]
) -> None:
    # WHEN a fresh process imports app and invokes the handler on an empty batch
    loaded = loaded_by[handler]
    # THEN nothing only the API uses was imported
    assert _found(loaded, API_ONLY) == []
    # AND, on an empty batch, no search client nor cryptography: a function that opens
    # personal fields (Need.OPEN_PERSONAL_DATA, the search transform) builds its vault
    # for the first record that needs opening
    assert _found(loaded, SEARCH_CLIENT) == []
    assert _found(loaded, PERSONAL_DATA) == []


# pydantic's model machinery, and Powertools' parser models, which its batch processing
# imports when pydantic was imported before it.
PYDANTIC = ("pydantic", "pydantic_core", "aws_lambda_powertools.utilities.parser")


@pytest.mark.parametrize("handler", [IMPORT_ONLY, *NON_API])
def test_no_stream_queue_or_firehose_function_imports_pydantic(
    handler: str, loaded_by: dict[str, set[str]]
) -> None:
    # WHEN a fresh process imports app and invokes a function other than the API's
    loaded = loaded_by[handler]
    # THEN it imported no pydantic: events are msgspec structs, and request models are the
    # API's alone
    assert _found(loaded, PYDANTIC) == []


def test_no_function_defines_a_dataclass_of_the_app(cold_starts: dict[str, ColdStart]) -> None:
    # WHEN each function starts as Lambda starts it (and a process imports app alone)
    defined = {start: cold.dataclasses for start, cold in cold_starts.items()}
    # THEN none defined a dataclass of chalicelib or projections: defining one compiles and
    # execs its generated methods, 0.3 to 0.6 ms of CPU each; a msgspec Struct, 0.02 ms
    assert {start: sorted(found) for start, found in defined.items() if found} == {}


def test_the_ledger_relay_forwards_bytes_without_event_models(
    loaded_by: dict[str, set[str]],
) -> None:
    # WHEN the ledger relay's function starts
    loaded = loaded_by["ledger_relay"]
    # THEN it imported neither the event models nor pydantic's model machinery
    assert _found(loaded, ("chalicelib.domain.events", "pydantic.main")) == []


# What a route group's code imports that no other group needs.
OTHER_GROUPS_CODE = (
    "chalicelib.entrypoints.api_routes",
    "chalicelib.entrypoints.openapi",
    "chalicelib.entrypoints.search_params",
    "chalicelib.service.accounts",
    "chalicelib.service.consumers",
    "chalicelib.adapters.read_models",
)


def test_the_health_check_imports_no_route_group_no_token_verification_and_no_pydantic(
    loaded_by: dict[str, set[str]],
) -> None:
    # WHEN the API's function serves its first request, GET /health (public, a constant body)
    loaded = loaded_by[API_HANDLER]
    # THEN it imported no root at all: no route group, nothing that verifies a token, no
    # service, and no response model (so no pydantic) to shape its constant body
    assert _roles(loaded) == set()
    assert _found(loaded, ("jwt", "cryptography", "chalicelib.service")) == []
    assert _found(loaded, OTHER_GROUPS_CODE) == []
    assert _found(loaded, ("chalicelib.entrypoints.api_models", *PYDANTIC)) == []


def test_an_authenticated_route_imports_its_group_and_the_token_verification(
    loaded_by: dict[str, set[str]], cold_starts: dict[str, ColdStart]
) -> None:
    # WHEN the API's function serves its first request, POST /users with a valid token
    loaded = loaded_by[API_REGISTRATION]
    # THEN it imported the token verification, the user routes and the vault they seal with
    assert _roles(loaded) == {"caller", "users", "vault"}
    # AND on that request, not with app: run as the API, app.py imports no role up front
    # (one API function serves every route; README "Cold start, measured")
    assert _roles(cold_starts[API_REGISTRATION].imported) == set()
    assert "chalicelib.adapters.tokens" in loaded and "chalicelib.service.users" in loaded
    # AND of cryptography only what an RS256 check and the vault need: not the X.509,
    # SSH-key and elliptic-curve modules a JWT library's algorithm table imports
    assert _found(loaded, HEAVY_CRYPTOGRAPHY) == []
    # AND nothing of the other route groups: accounts, the consumers' views, search, OpenAPI,
    # the read models
    assert _found(loaded, OTHER_GROUPS_CODE) == []


def test_an_authenticated_route_builds_its_request_models_only(
    cold_starts: dict[str, ColdStart],
) -> None:
    # WHEN the API's function serves its first request, POST /users with a valid token
    built = cold_starts[API_REGISTRATION].built
    # THEN of the models its group's code defines (every user route's bodies), it built the
    # registration body's alone: the others wait for their own route's first call
    assert built == {"RegisterUser", "RequestConsents"}


def test_each_function_is_started_with_the_handler_lambda_runs(
    cold_starts: dict[str, ColdStart],
) -> None:
    # GIVEN the handler string Chalice registers for each function but the API (what
    # `chalice package` and `deploy` give Lambda, so what Lambda sets as _HANDLER)
    registered = cold_starts[IMPORT_ONLY].handlers
    # THEN the benchmark's processes, and these, run each function with that _HANDLER
    assert registered == {handler: lambda_handler(handler) for handler in NON_API}
    # AND the API's: Chalice deploys it as the app object (chalice.deploy.appgraph)
    assert lambda_handler(API_HANDLER) == lambda_handler(API_REGISTRATION) == "app.app"


def _shipped() -> tuple[str, ...]:
    """The top-level modules of the libraries the deployment package ships (requirements.txt)."""

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    lines = (line.strip() for line in (APP_DIR / "requirements.txt").read_text().splitlines())
    required = {
        normal(re.split(r"[<>=!~\[;\s]", line)[0])
        for line in lines
        if line and not line.startswith("#")
    }
    modules = metadata.packages_distributions()
    return tuple(
        sorted(m for m, dists in modules.items() if any(normal(d) in required for d in dists))
    )


# The app's own code, and what its package ships beside it (not boto3: the runtime's).
APP_CODE = ("app", "chalicelib", "projections")
SHIPPED = _shipped()


def test_the_shipped_libraries_are_found() -> None:
    # The next test's list: what requirements.txt names, as modules.
    assert {"pydantic", "cryptography", "aws_lambda_powertools", "msgspec"} <= set(SHIPPED)


@pytest.mark.parametrize("handler", NON_API)
def test_a_function_imports_its_roles_with_app_so_its_first_call_imports_no_code(
    handler: str, cold_starts: dict[str, ColdStart]
) -> None:
    # GIVEN a fresh process run as one function but the API (its _HANDLER set, as in Lambda)
    cold = cold_starts[handler]
    # WHEN it imports app and then makes its first call
    first_call = cold.modules - cold.imported
    # THEN import app imported the roles the call uses: the call imported none
    assert _roles(cold.modules) == _roles(cold.imported)
    # AND no code of the app nor of the libraries its package ships: only what creating
    # the boto3 clients needs (boto3, botocore, the standard library)
    assert _found(first_call, APP_CODE + SHIPPED) == []
