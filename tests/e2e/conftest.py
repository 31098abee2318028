"""The end-to-end tier: the real local stack as a subprocess, driven over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from local_aws.identities import UserPoolIdentities
from local_aws.stack_process import LocalStackProcess, running_local_stack
from tests.e2e.api import Api, pool_of


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
def identities(local_stack: LocalStackProcess) -> UserPoolIdentities:
    """The stack's user pool, as ``local_stack.py token`` uses it, in this process.

    A token minted here is the command's without a Python process started per
    person; tests of the command itself use ``token``.
    """
    return pool_of(local_stack)


@pytest.fixture(scope="session")
def auth_headers(identities: UserPoolIdentities) -> AuthHeaders:
    """``auth_headers(username, group=None)``: ``{"Authorization": "Bearer <token>"}``."""

    def headers(username: str, group: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {identities.token(username, group)}"}

    return headers


@pytest.fixture(scope="session")
def api(local_stack: LocalStackProcess, identities: UserPoolIdentities) -> Api:
    """The API over HTTP; ``api.post(path, body, as_="someone")`` calls as that person."""
    return Api(local_stack, identities)
