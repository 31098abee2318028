"""How the e2e tests call the API: one place for the caller's identity and headers."""

from __future__ import annotations

import threading
from typing import Any

import requests

from local_aws.identities import UserPoolIdentities
from local_aws.stack_process import LocalStackProcess

__all__ = ["ADMIN", "Api", "pool_of"]

# The operator (group admin): accounts for anyone, GET /search.
ADMIN = "e2e-admin"


def pool_of(stack: LocalStackProcess) -> UserPoolIdentities:
    """The user pool of ``stack``: its people and their access tokens, minted in this process."""
    return UserPoolIdentities.for_local_stack(stack.aws_port, stack.state_dir)


class Api:
    """The local stack's HTTP API, called as a named person (``as_``) of its user pool.

    Each call opens its own connection, so the race tests call it from many threads.
    """

    def __init__(self, stack: LocalStackProcess, identities: UserPoolIdentities) -> None:
        self.stack = stack
        self._identities = identities
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def sign_in(self, *people: str) -> None:
        """Mint the access tokens of ``people`` now (before a race, not during it)."""
        for person in people:
            self._token(person)

    def _token(self, person: str) -> str:
        with self._lock:
            if person not in self._tokens:
                group = "admin" if person == ADMIN else None
                self._tokens[person] = self._identities.token(person, group)
            return self._tokens[person]

    def headers(self, as_: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Request headers of caller ``as_``: their bearer token, plus ``extra``."""
        return {
            "Accept": "application/json",
            "Authorization": f"Bearer {self._token(as_)}",
            **(extra or {}),
        }

    def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        as_: str = ADMIN,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        return requests.post(
            f"{self.stack.api_url}{path}",
            json=body,
            headers=self.headers(as_, headers),
            timeout=60,
        )

    def get(
        self, path: str, *, as_: str = ADMIN, params: dict[str, str] | None = None
    ) -> requests.Response:
        return requests.get(
            f"{self.stack.api_url}{path}", params=params, headers=self.headers(as_), timeout=60
        )
