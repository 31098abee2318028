"""The end-to-end tier: the real local stack as a subprocess, driven over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from local_aws.identities import UserPoolIdentities
from local_aws.stack_process import LocalStackProcess, running_local_stack
from tests.e2e.api import Api


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """GIVEN the local stack running on free loopback ports (stopped after the session)."""
    with running_local_stack(tmp_path_factory.mktemp("local-stack") / "stack.log") as stack:
        yield stack


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


Token = Callable[..., str]
AuthHeaders = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def token(local_stack: LocalStackProcess) -> Token:
    """``token(username, group=None)``: an access token minted by ``local_stack.py token``.

    The same username is the same person (same ``sub``) for the whole session.
    """

    def mint(username: str, group: str | None = None) -> str:
        return local_stack.token(username, group)

    return mint


@pytest.fixture(scope="session")
def auth_headers(token: Token) -> AuthHeaders:
    """``auth_headers(username, group=None)``: ``{"Authorization": "Bearer <token>"}``."""

    def headers(username: str, group: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(username, group)}"}

    return headers


@pytest.fixture(scope="session")
def api(local_stack: LocalStackProcess) -> Api:
    """The API over HTTP; ``api.post(path, body, as_="someone")`` calls as that person."""
    return Api(
        local_stack, UserPoolIdentities.for_local_stack(local_stack.aws_port, local_stack.state_dir)
    )
