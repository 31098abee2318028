"""Benchmark: a Lambda cold start of the app versus importing boto3 and pydantic.

Each sample is a fresh Python process with the environment a deployed
function has (the stage variables tf_outputs_to_chalice.py writes, a region
and credentials; AWS endpoints point at a closed local port, so any AWS call
fails at once instead of reaching out; ``_HANDLER`` as the Lambda runtime sets
it, ``app.<handler name>`` and ``app.app`` for the API). Per handler it times ``import app``
and then the first invocation through the handler Lambda would call
(``app.app`` for the API, ``app.<name>`` for the others): ``GET /health`` for
the API (``api_handler``), an empty batch for the stream, queue and Firehose
consumers. The API has a second figure, ``api_handler (POST /users)``: a
first request with a valid access token and body, so token verification, the
route's code and its request model count. Its token is signed by a stand-in
pool (scripts/local_aws/token_signer.py) whose key set a server on
127.0.0.1 serves: the child fetches it as Lambda fetches Cognito's (less the
TLS handshake and the round trip). The registration then asks Cognito for
the caller's email: the same server refuses it at once (a ForbiddenException,
which boto3 does not retry, where a closed port would cost the client's
retries and their back-off), and the child checks that the answer is the
503 of a pool that cannot be asked, not a 401 or a 400. The baseline process times
``import boto3, pydantic``. Samples are taken round
robin, median of ``--rounds``. Times are wall-clock; ``--cpu`` times each
child's CPU time instead (``time.process_time``), which other processes
barely change: on a machine shared with other work, that compares two trees
or two runs where wall-clock medians swing by a third from run to run.

Run as one function (``_HANDLER``), app.py imports that function's roles
(chalicelib.entrypoints.roots) with itself, but the API's: a request imports
its route's code on its first call. So ``import app`` alone understates a
cold start: ``cold_s`` is import plus first call. The first call also
creates the boto3 clients the handler uses, which the baseline does not (any
function calling AWS pays it, whatever its code): ``clients_s`` is that time
(boto3 ``Session.client``/``resource``, timed in the child), and
``cold_ratio`` compares ``cold_s - clients_s`` with the baseline.

By default the app is imported from this source tree; ``--app-dir DIR``
imports another checkout's ``chalice_app`` (to compare two trees with the
same children). ``--package ZIP``
imports it from a ``chalice package`` deployment zip instead, unpacked as
Lambda does (``/var/task``), and ``--layer ZIP`` puts an automatic layer's
zip after it (``/opt/python/lib/...``), so the layer's effect is measured.
Like ``/var/task``, the unpacked code is not writable for bytecode: every
cold start compiles what the zip does not ship as ``.pyc`` (``chalice
package`` ships none); ``--pyc`` compiles it beforehand to show that cost.

``--importtime N`` also runs ``python -X importtime`` on ``import boto3,
pydantic`` and, once per handler, in another process, on ``import app`` and
the first call, and prints the N top-level packages whose modules take
longest to import among those the baseline does not import (self time of
every module, summed per package): what a cold start of that function
imports beyond ``import boto3, pydantic``. Two processes, not one: a module
may import differently once pydantic is loaded (Powertools' batch processing
then imports its pydantic parser models), and a function does not import
pydantic first.

The last line of output is JSON: ``{"rounds","clock","baseline_import_s",
"app_import_s","import_ratio","cold_s","cold_ratio","handlers":{name:
{"import_s","first_call_s","clients_s","cold_s","cold_ratio"}}}`` (first
call figures are null for a handler whose call failed) plus
``"importtime"`` (handler -> package -> seconds) with ``--importtime``.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from tf_outputs_to_chalice import (
    API_HANDLER,
    FIREHOSE_PROCESSORS,
    HANDLERS,
    REPLAY_WORKER_HANDLER,
    environment_variables,
)

from chalicelib import resources
from chalicelib.settings import LAMBDA_HANDLER_ENV_VAR
from local_aws.token_signer import TokenSigner

ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "chalice_app"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
PREFIX = "evp-dev"
SITE_PACKAGES = f"python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connect fails fast

HEALTH_EVENT: dict[str, Any] = {
    "resource": "/health",
    "path": "/health",
    "httpMethod": "GET",
    "headers": {"Host": "api.example.com"},
    "multiValueHeaders": {"Host": ["api.example.com"]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/health",
        "httpMethod": "GET",
        "path": "/api/health",
        "stage": "api",
        "requestId": "bench",
        "identity": {"sourceIp": "127.0.0.1"},
    },
    "body": None,
    "isBase64Encoded": False,
}

# The API's second figure: a first request that needs the token, the route and its body.
API_REGISTRATION = f"{API_HANDLER} (POST /users)"
BENCH_USER = "bench-user"
# What the registration answers when the user pool cannot be asked for the caller's
# email (after the token, the body and the route's code passed).
REGISTRATION_STATUS = 503
# The stand-in pool refuses GetUser as Cognito does a request its web ACL blocks (HTTP
# 403): an error boto3 does not retry, so the 503 comes at once.
POOL_REFUSAL = orjson.dumps(
    {"__type": "ForbiddenException", "message": "the benchmark's pool answers no user call"}
)
# boto3's endpoint of one service, ahead of AWS_ENDPOINT_URL (the closed port).
COGNITO_ENDPOINT_ENV_VAR = "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"


def registration_event(token: str) -> dict[str, Any]:
    """``POST /users`` with ``token`` and a valid body, as API Gateway hands it to Lambda."""
    headers = {
        "Host": "api.example.com",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    return {
        **HEALTH_EVENT,
        "resource": "/users",
        "path": "/users",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": {
            **HEALTH_EVENT["requestContext"],
            "resourcePath": "/users",
            "httpMethod": "POST",
            "path": "/api/users",
        },
        "body": orjson.dumps({"name": "Ada", "lastname": "Lovelace", "address": "London"}).decode(),
    }


# The children's clocks: wall-clock time by default; with --cpu, the child's CPU time,
# which other processes on a loaded machine disturb far less.
WALL = "perf_counter"
CPU = "process_time"

# A child process: as little as possible runs before `import app` is timed.
# Before the call, boto3's client and resource factories are wrapped to time
# client creation (boto3 is imported then if app.py did not: part of the call).
CHILD = """\
import time
clock = time.{clock}
started = clock()
import app
imported = clock()
import boto3.session
creating = [0.0, 0]
def _timed(create):
    def wrapper(*args, **kwargs):
        creating[1] += 1
        began = clock()
        try:
            return create(*args, **kwargs)
        finally:
            creating[1] -= 1
            if not creating[1]:
                creating[0] += clock() - began
    return wrapper
boto3.session.Session.client = _timed(boto3.session.Session.client)
boto3.session.Session.resource = _timed(boto3.session.Session.resource)
{call}
done = clock()
print(imported - started, done - imported, creating[0])
"""
BASELINE_CHILD = """\
import time
clock = time.{clock}
started = clock()
import boto3, pydantic
print(clock() - started, 0.0, 0.0)
"""


def stage_outputs() -> dict[str, Any]:
    """Terraform outputs as infra/ would give them for one deployment."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    name = f"{PREFIX}-{{}}".format
    issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_bench"
    return {
        "name_prefix": PREFIX,
        "chalice_app_name": "event-platform",
        "chalice_stage": "dev",
        "table_names": {t.key: name(t.suffix) for t in resources.TABLES},
        "queue_names": {q.key: name(q.suffix) for q in resources.QUEUES},
        "user_events_topic_arn": arn.format("sns", name(resources.USER_EVENTS_TOPIC)),
        "event_stream_name": name(resources.EVENT_STREAM.suffix),
        "ledger_stream_arn": arn.format("dynamodb", f"table/{name('ledger')}/stream/2026"),
        "stream_failure_queue_name": name(resources.STREAM_FAILURE_QUEUE),
        "search_redaction_queue_name": name(resources.SEARCH_LATE_REDACTION.suffix),
        "archive_bucket_name": name(resources.ARCHIVE_DELIVERY.bucket_suffix),
        "opensearch_endpoint": f"https://search-{PREFIX}.{REGION}.es.amazonaws.com",
        "opensearch_index": "events",
        "early_adopter_count": 100,
        "cors_allowed_origins": [],
        "personal_data_kms_key_arn": arn.format("kms", "key/bench"),
        "email_sender": "no-reply@bench.example.com",
        "lambda_iam_policies": dict.fromkeys(HANDLERS, "{}"),
        "lambda_reserved_concurrency": {},
        "cognito_user_pool_id": f"{REGION}_bench",
        "cognito_app_client_id": "bench-client",
        "cognito_issuer": issuer,
        "cognito_jwks_url": f"{issuer}/.well-known/jwks.json",
    }


# Every figure the benchmark takes by default: each handler's, the API's second after its first.
FIGURES = [API_HANDLER, API_REGISTRATION, *(h for h in HANDLERS if h != API_HANDLER)]
# The API's figures: their first call needs no AWS, so a failed one stops the benchmark.
API_FIGURES = frozenset({API_HANDLER, API_REGISTRATION})
# The module Chalice's functions load (app.py); the API's handler is its Chalice object.
APP_MODULE = "app"


def lambda_handler(handler: str) -> str:
    """The handler Lambda calls for ``handler``'s function (its ``_HANDLER``), as Chalice sets it.

    ``app.<handler name>``, and ``app.app`` for the API (both its figures).
    """
    return f"{APP_MODULE}.{APP_MODULE if handler in API_FIGURES else handler}"


def function_environment(env: Mapping[str, str], handler: str) -> dict[str, str]:
    """``env`` as the Lambda runtime sets it in ``handler``'s function: with its ``_HANDLER``."""
    return {**env, LAMBDA_HANDLER_ENV_VAR: lambda_handler(handler)}


def lambda_environment(code_paths: Sequence[Path]) -> dict[str, str]:
    """The environment of a deployed function of this app, its code on ``code_paths``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(str(path) for path in code_paths),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_ENDPOINT_URL": CLOSED_PORT_URL,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    }
    env.update(environment_variables(stage_outputs()))
    return env


@contextlib.contextmanager
def token_issuer(env: dict[str, str]) -> Iterator[str]:
    """A stand-in user pool for ``env``'s children: yields an access token of BENCH_USER.

    ``env`` gets the pool's settings, its JWKS URL and its Cognito endpoint a
    server on 127.0.0.1 (running until the block ends) that serves the pool's
    key set and refuses every Cognito call (GetUser) with POOL_REFUSAL.
    """
    signer = TokenSigner(f"{REGION}_bench", "bench-client")
    document = orjson.dumps(signer.jwks())

    class Pool(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200, "application/json", document)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(403, "application/x-amz-json-1.1", POOL_REFUSAL)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per child on stderr would bury the table

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pool)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env.update(signer.environment())
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env[resources.USER_POOL.jwks_url_env_var] = f"{url}/.well-known/jwks.json"
    env[COGNITO_ENDPOINT_ENV_VAR] = url
    try:
        yield signer.token(BENCH_USER)
    finally:
        server.shutdown()
        server.server_close()


def _api_call(event: Mapping[str, Any], status: int) -> str:
    # The answer is checked: a refused token or body would time a shorter request.
    return (
        f"_response = {lambda_handler(API_HANDLER)}({dict(event)!r}, None)\n"
        f"assert _response['statusCode'] == {status}, _response"
    )


def invocation(handler: str, token: str = "") -> str:
    """The child's code for the first call of ``handler``, as Lambda would make it.

    It calls what ``lambda_handler(handler)`` names (the child's ``_HANDLER``,
    ``function_environment``). ``token`` (of ``token_issuer``) is for API_REGISTRATION.
    """
    call = lambda_handler(handler)
    if handler == API_HANDLER:
        return _api_call(HEALTH_EVENT, 200)
    if handler == API_REGISTRATION:
        return _api_call(registration_event(token), REGISTRATION_STATUS)
    if handler in FIREHOSE_PROCESSORS:
        event = {
            "invocationId": "bench",
            "deliveryStreamArn": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/bench",
            "region": REGION,
            "records": [],
        }
        return f"{call}({event!r}, None)"
    if handler == REPLAY_WORKER_HANDLER:
        # Invoked by the replay state machine only: a step it does not know is
        # refused (ValueError) after its role's import, before any AWS call.
        return f"try:\n    {call}({{'step': 'none'}}, None)\nexcept ValueError:\n    pass"
    return f"{call}({{'Records': []}}, None)"


def _run(
    code: str, env: Mapping[str, str], extra: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *extra, "-c", code],
        cwd=env["PYTHONPATH"].split(os.pathsep)[0],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sample(
    code: str, env: Mapping[str, str], clock: str = WALL, *, may_fail: bool = True
) -> tuple[float, tuple[float, float] | None]:
    """(import seconds, (first call, client creation) seconds or None if the call failed).

    A failed call raises SystemExit unless ``may_fail``.
    """
    result = _run(code, env)
    # The timings are the child's last line: handlers log and emit metrics on stdout first.
    fields = (result.stdout.strip().splitlines() or [""])[-1].split()
    if result.returncode == 0 and len(fields) == 3:
        return float(fields[0]), (float(fields[1]), float(fields[2]))
    # The import succeeded but the call failed: time the import alone.
    if may_fail and "import app" in code and result.returncode != 0:
        alone = _run(CHILD.format(call="pass", clock=clock), env)
        if alone.returncode == 0:
            return float(alone.stdout.strip().splitlines()[-1].split()[0]), None
    raise SystemExit(f"benchmark child failed:\n{result.stderr[-2000:]}")


def _import_self_times(code: str, env: Mapping[str, str]) -> dict[str, int]:
    """Microseconds each module took to import itself (``-X importtime``) in a run of ``code``."""
    result = _run(code, env, ["-X", "importtime"])
    if result.returncode != 0:
        raise SystemExit(f"importtime child failed:\n{result.stderr[-2000:]}")
    times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _, name = line[len("import time:") :].split("|", 2)
        times[name.strip()] = int(own)
    return times


def importtime(
    env: Mapping[str, str], top: int, handler: str, baseline: frozenset[str], token: str = ""
) -> dict[str, float]:
    """Seconds spent importing each top-level package's own modules beyond the baseline.

    That is, in ``import app`` and the first call of ``handler``, the modules
    ``import boto3, pydantic`` (``baseline``, its module names) does not import.
    """
    code = f"import app\n{invocation(handler, token)}\n"
    totals: dict[str, int] = defaultdict(int)
    for name, micros in _import_self_times(code, function_environment(env, handler)).items():
        if name not in baseline:
            totals[name.split(".")[0]] += micros
    heaviest = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return {package: round(micros / 1e6, 4) for package, micros in heaviest}


def unpack(archive: Path, target: Path) -> Path:
    """``archive`` extracted into ``target``."""
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
    return target


def run(
    rounds: int,
    handler_names: Sequence[str],
    env: Mapping[str, str],
    clock: str = WALL,
    token: str = "",
) -> dict[str, Any]:
    """Round-robin fresh processes; the medians, printed as a table and returned."""
    baseline: list[float] = []
    imports: dict[str, list[float]] = {h: [] for h in handler_names}
    # Per handler and process whose first call succeeded: (import, first call, clients).
    colds: dict[str, list[tuple[float, float, float]]] = {h: [] for h in handler_names}
    for _ in range(max(1, rounds)):
        baseline.append(sample(BASELINE_CHILD.format(clock=clock), env)[0])
        for handler in handler_names:
            code = CHILD.format(call=invocation(handler, token), clock=clock)
            imported, called = sample(
                code,
                function_environment(env, handler),
                clock,
                may_fail=handler not in API_FIGURES,
            )
            imports[handler].append(imported)
            if called is not None:
                colds[handler].append((imported, *called))

    baseline_s = statistics.median(baseline)
    app_s = statistics.median([s for samples in imports.values() for s in samples])
    handlers = {h: _handler_figures(imports[h], colds[h], baseline_s) for h in handler_names}
    every = [cold for samples in colds.values() for cold in samples]
    _print_table(baseline_s, handlers)
    return {
        "rounds": max(1, rounds),
        "baseline_import_s": round(baseline_s, 4),
        "app_import_s": round(app_s, 4),
        "import_ratio": round(app_s / baseline_s, 2),
        "cold_s": round(statistics.median(i + c for i, c, _ in every), 4) if every else None,
        "cold_ratio": (
            round(statistics.median(i + c - k for i, c, k in every) / baseline_s, 2)
            if every
            else None
        ),
        "handlers": handlers,
    }


def _handler_figures(
    imports: Sequence[float], colds: Sequence[tuple[float, float, float]], baseline_s: float
) -> dict[str, float | None]:
    """One handler's medians; its first call figures are None if the call needs AWS."""
    figures: dict[str, float | None] = {"import_s": round(statistics.median(imports), 4)}
    figures.update(dict.fromkeys(("first_call_s", "clients_s", "cold_s", "cold_ratio")))
    if colds:
        figures.update(
            first_call_s=round(statistics.median(c for _, c, _ in colds), 4),
            clients_s=round(statistics.median(k for _, _, k in colds), 4),
            cold_s=round(statistics.median(i + c for i, c, _ in colds), 4),
            cold_ratio=round(statistics.median(i + c - k for i, c, k in colds) / baseline_s, 2),
        )
    return figures


def _print_table(baseline_s: float, handlers: Mapping[str, Mapping[str, float | None]]) -> None:
    print(
        f"{'':30} {'import app':>10} {'first call':>10} {'clients':>8} {'cold':>8}"
        f" {'cold-clients vs baseline':>25}",
        file=sys.stderr,
    )
    print(f"{'import boto3, pydantic':30} {baseline_s:>9.3f}s", file=sys.stderr)
    for handler, f in handlers.items():
        line = f"{handler:30} {f['import_s']:>9.3f}s"
        if f["first_call_s"] is None or f["clients_s"] is None or f["cold_s"] is None:
            line += f" {'needs AWS':>10}"
        else:
            line += (
                f" {f['first_call_s']:>9.3f}s {f['clients_s']:>7.3f}s {f['cold_s']:>7.3f}s"
                f" {f['cold_s'] - f['clients_s']:>17.3f}s ({f['cold_ratio']:.2f}x)"
            )
        print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per figure")
    parser.add_argument(
        "--handlers",
        nargs="*",
        default=FIGURES,
        help=f"handlers to invoke (default: all, and {API_REGISTRATION!r})",
    )
    parser.add_argument(
        "--app-dir", type=Path, default=APP_DIR, help="the chalice_app of the tree to measure"
    )
    parser.add_argument("--importtime", type=int, default=0, metavar="N", help="top N packages")
    parser.add_argument("--package", type=Path, help="a chalice package deployment.zip")
    parser.add_argument("--layer", type=Path, help="its automatic layer's zip (with --package)")
    parser.add_argument("--pyc", action="store_true", help="precompile the unpacked code")
    parser.add_argument(
        "--cpu", action="store_true", help="time each child's CPU, not wall-clock, time"
    )
    args = parser.parse_args(argv)
    if (args.layer or args.pyc) and not args.package:
        parser.error("--layer and --pyc need --package")
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        code_paths = [args.app_dir.resolve(), args.app_dir.resolve() / "vendor"]
        if args.package:
            code_paths = [unpack(args.package, Path(tmp) / "task")]
        if args.layer:
            opt = unpack(args.layer, Path(tmp) / "opt")
            code_paths.append(opt / "python" / "lib" / SITE_PACKAGES)
        env = lambda_environment(code_paths)
        if args.package:
            if args.pyc:
                for path in code_paths:
                    compileall.compile_dir(path, quiet=1)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        with token_issuer(env) as token:
            summary = run(args.rounds, args.handlers, env, CPU if args.cpu else WALL, token)
            summary["clock"] = "cpu" if args.cpu else "wall"
            if args.importtime:
                baseline = frozenset(_import_self_times("import boto3, pydantic", env))
                summary["importtime"] = {
                    handler: importtime(env, args.importtime, handler, baseline, token)
                    for handler in args.handlers
                }
    for handler, packages in summary.get("importtime", {}).items():
        shown = ", ".join(f"{package} {sec * 1000:.1f}" for package, sec in packages.items())
        print(f"  importtime (ms) {handler}: {shown}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
