"""A function imports what its own role needs: app.py reaches each role through roots.

Each test runs one handler as a cold Lambda would (a fresh process with a
deployed function's environment, bench_cold_start's): ``import app``, then
its first invocation on an empty batch; then reads ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from bench_cold_start import APP_DIR, invocation, lambda_environment
from tf_outputs_to_chalice import API_HANDLER, FIREHOSE_PROCESSORS, HANDLERS

from chalicelib.resources import SUBSCRIBERS, Need

# What only the API uses: request and response models (email validation),
# OpenAPI, token verification (PyJWT), the HTTP operations.
API_ONLY = (
    "chalicelib.roots.api",
    "chalicelib.api_routes",
    "chalicelib.api_models",
    "chalicelib.openapi",
    "chalicelib.users",
    "chalicelib.accounts",
    "chalicelib.identity",
    "chalicelib.tokens",
    "jwt",
    "email_validator",
)
# Opening personal fields (cryptography), and querying the search index.
PERSONAL_DATA = ("chalicelib.personal_data", "chalicelib.roots.vault", "cryptography")
SEARCH_CLIENT = ("chalicelib.search.opensearch", "chalicelib.search.transport")
OPENS_PERSONAL_DATA = frozenset(
    {s.handler for s in SUBSCRIBERS if Need.OPEN_PERSONAL_DATA in s.needs}
    | set(FIREHOSE_PROCESSORS)
)
NON_API = [h for h in HANDLERS if h != API_HANDLER]

CHILD = """\
import gc, json, sys
import app
{call}
print(json.dumps({{"modules": sorted(sys.modules), "gc": [gc.isenabled(), gc.get_freeze_count()]}}))
"""


def _cold_start(handler: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(call=invocation(handler))],
        cwd=APP_DIR,
        env=lambda_environment([APP_DIR, APP_DIR / "vendor"]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Handlers log and emit metrics on stdout first; the child's report is the last line.
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _loaded_by(handler: str) -> set[str]:
    return set(_cold_start(handler)["modules"])


def _found(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in names))


def test_the_handlers_checked_here_are_every_function_but_the_api() -> None:
    assert NON_API and len(NON_API) == len(HANDLERS) - 1
    assert set(NON_API) > OPENS_PERSONAL_DATA


@pytest.mark.parametrize("handler", NON_API)
def test_a_function_imports_neither_the_api_nor_what_its_role_does_not_use(handler: str) -> None:
    # WHEN a fresh process imports app and invokes the handler on an empty batch
    loaded = _loaded_by(handler)
    # THEN its role module was imported, but nothing only the API uses
    assert "chalicelib.roots" in loaded
    assert _found(loaded, API_ONLY) == []
    # AND no search client on an empty batch, nor cryptography unless it opens personal data
    assert _found(loaded, SEARCH_CLIENT) == []
    if handler not in OPENS_PERSONAL_DATA:
        assert _found(loaded, PERSONAL_DATA) == []


def test_the_ledger_relay_forwards_bytes_without_event_models() -> None:
    # WHEN the ledger relay's function starts
    loaded = _loaded_by("ledger_relay")
    # THEN it imported neither the event models nor pydantic's model machinery
    assert _found(loaded, ("chalicelib.events", "pydantic.main")) == []


def test_the_api_function_imports_its_role_on_the_first_request() -> None:
    # WHEN the API's function serves its first request (GET /health)
    loaded = _loaded_by(API_HANDLER)
    # THEN its role (models, OpenAPI, token verification) was imported
    assert _found(loaded, ("chalicelib.roots.api", "chalicelib.api_routes", "jwt")) != []


def test_a_role_is_imported_without_collecting_and_left_out_of_later_collections() -> None:
    # WHEN a function imports its role on its first call
    enabled, frozen = _cold_start("projector")["gc"]
    # THEN the garbage collector runs again afterwards, and the objects that
    # existed after the import are in its permanent generation
    assert enabled is True
    assert frozen > 0
