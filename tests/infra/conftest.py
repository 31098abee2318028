"""Fixtures shared by the infra tests that run Terraform against moto server."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_aws.stack_process import free_port, wait_for

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback: the provider reads the caller identity from it.

    The project's patched server (local_aws.moto_server): a plan of the replay
    state machine asks it to validate the definition, which plain moto cannot.
    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "local_aws.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=SCRIPTS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
