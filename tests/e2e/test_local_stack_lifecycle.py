"""The local stack's own contract: ready line, health, and a clean stop on SIGTERM."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from local_aws.stack_process import running_local_stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_sigterm_stops_every_child_and_frees_the_ports(tmp_path: Path) -> None:
    # GIVEN a running local stack
    with running_local_stack(tmp_path / "stack.log") as stack:
        ports = [urlsplit(stack.api_url).port, urlsplit(stack.aws_url).port]
        assert requests.get(f"{stack.api_url}/health", timeout=10).json() == {"status": "ok"}
        assert f"API ready at {stack.api_url}" in stack.log_path.read_text()
        assert not any(_port_free(p) for p in ports if p)
    # WHEN it has been sent SIGTERM (on leaving the context)
    # THEN moto server and chalice local are gone: both ports can be bound again
    assert all(_port_free(p) for p in ports if p)
