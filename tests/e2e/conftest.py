"""The end-to-end tier: the real local stack as a subprocess, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, running_local_stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """GIVEN the local stack running on free loopback ports (stopped after the session)."""
    with running_local_stack(tmp_path_factory.mktemp("local-stack") / "stack.log") as stack:
        yield stack


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
