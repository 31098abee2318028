"""The unit tier stays one: in-process and pure, the whole tier in seconds.

A test here that starts a process or an AWS emulator fails at once, naming the
tier it belongs to: tests/handler (in-process moto or DynamoDB Local) or
tests/tools (scripts run as processes).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from moto.core.models import MockAWS

from tests.conftest import STARTS_A_PROCESS

# The shared fixtures (tests/conftest.py) that give an AWS emulator.
EMULATORS = frozenset({"session", "aws_env", "provisioned_account", *STARTS_A_PROCESS})


@pytest.fixture(autouse=True)
def _unit_tier_only(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    used = sorted(EMULATORS & set(request.fixturenames))
    if used:
        pytest.fail(f"the unit tier uses no AWS emulator ({', '.join(used)}): tests/handler")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the unit tier starts no process or moto: tests/tools, tests/handler")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(MockAWS, "start", refuse)
    yield
