"""The e2e fuzz run: schemathesis ``--checks all`` against the running local stack.

An outside client's view of the contract: every operation of the API's own
document, fetched over HTTP, with examples, coverage, fuzzing and stateful
phases, as an operator (``admin``: every operation) and as a customer (the
two runs side by side). Every check must pass: no 5xx, every status and body
as documented, every schema-valid request accepted and every schema-violating
one refused.

``make fuzz`` runs it with FUZZ_MAX_EXAMPLES=100 examples per operation;
``make test`` with fewer, to keep the suite's wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_aws.identities import UserPoolIdentities
from local_aws.stack_process import LocalStackProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
# A failure is reproducible with the same seed.
SEED = int(os.environ.get("FUZZ_SEED", "20261127"))


# The caller modes: an operator (``admin``: every operation) and a customer.
MODES = {"operator": ("fuzz-operator", "admin"), "customer": ("fuzz-customer", None)}


@pytest.fixture(scope="module")
def fuzz_runs(
    local_stack: LocalStackProcess,
    identities: UserPoolIdentities,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    """Both modes' runs, started at once: each waits on the stack's answers most of
    its time, so side by side they take about as long as one. By mode: the process
    and its log."""
    runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for mode, (username, group) in MODES.items():
            folder = tmp_path_factory.mktemp(f"fuzz-{mode}")
            env = {
                **os.environ,
                "FUZZ_TOKEN": identities.token(username, group),
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "chalice_app")]),
            }
            log = folder / "schemathesis.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
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
                    cwd=folder,  # its cache folder goes there, not into the work tree
                )
            runs[mode] = (process, log)
        yield runs
    finally:
        for process, _ in runs.values():
            if process.poll() is None:
                process.kill()
            process.wait()


# 100 examples per operation take minutes: above the suite's per-test timeout.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", list(MODES))
def test_schemathesis_checks_all_find_nothing(
    fuzz_runs: dict[str, tuple[subprocess.Popen[bytes], Path]], mode: str
) -> None:
    # GIVEN the API's own document, served by the running stack, and a caller's token
    process, log = fuzz_runs[mode]
    # WHEN schemathesis runs every check on generated requests for every operation
    returncode = process.wait(timeout=1800)
    # THEN no check fails
    assert returncode == 0, log.read_text()[-12000:]
