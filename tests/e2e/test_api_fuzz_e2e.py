"""The e2e fuzz run: schemathesis ``--checks all`` against the running local stack.

An outside client's view of the contract: every operation of the API's own
document, fetched over HTTP, with examples, coverage, fuzzing and stateful
phases, as an operator (``admin``: every operation) and as a customer. Every
check must pass: no 5xx, every status and body as documented, every
schema-valid request accepted and every schema-violating one refused.

``make fuzz`` runs it with FUZZ_MAX_EXAMPLES=100 examples per operation;
``make test`` with fewer, to keep the suite's wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_aws.stack_process import LocalStackProcess
from tests.e2e.conftest import Token

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
# A failure is reproducible with the same seed.
SEED = int(os.environ.get("FUZZ_SEED", "20261127"))


# 100 examples per operation take minutes: above the suite's per-test timeout.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    ("username", "group"), [("fuzz-operator", "admin"), ("fuzz-customer", None)]
)
def test_schemathesis_checks_all_find_nothing(
    local_stack: LocalStackProcess, token: Token, tmp_path: Path, username: str, group: str | None
) -> None:
    # GIVEN the API's own document, served by the running stack, and a caller's token
    env = {
        **os.environ,
        "FUZZ_TOKEN": token(username, group),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "chalice_app")]),
    }
    # WHEN schemathesis runs every check on generated requests for every operation
    log = tmp_path / "schemathesis.log"
    with log.open("w") as out:
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "run",
                f"{local_stack.api_url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                str(SEED),
                "--workers",
                "1",
                "--request-timeout",
                "30",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,  # its cache folder goes there, not into the work tree
            timeout=1800,
            check=False,
        )
    # THEN no check fails
    assert result.returncode == 0, log.read_text()[-12000:]
