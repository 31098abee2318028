"""The HTTP edge: error shapes and guards shared by every route."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.exceptions import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    IdentityUnavailable,
    Unauthorized,
)
from chalicelib.entrypoints.edge import MAX_PATH_PARAMETER_LENGTH
from chalicelib.entrypoints.http import api_errors


def test_overlong_path_parameters_are_404_without_calling_the_handler() -> None:
    # GIVEN a route handler that must not be reached
    calls: list[str] = []

    @api_errors
    def get_user(user_id: str) -> Any:
        calls.append(user_id)
        return {}

    # WHEN it is called with an id longer than any issued id
    response = get_user(user_id="x" * (MAX_PATH_PARAMETER_LENGTH + 1))
    # THEN 404 in the documented shape, and the handler never ran
    assert response.status_code == 404
    assert json.loads(response.body) == {
        "error": "not_found",
        "message": "no such user",
        "details": [],
    }
    assert calls == []


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (Conflict("taken", code="email_taken"), 409, "email_taken"),
        (Unauthorized("no token"), 401, "unauthorized"),
        (Forbidden("admins only"), 403, "forbidden"),
        (IdempotencyKeyReused("other body"), 422, "idempotency_key_reused"),
        (IdentityUnavailable("jwks down"), 503, "identity_unavailable"),
        (RuntimeError("boom"), 500, "internal_error"),
    ],
)
def test_errors_map_to_the_documented_shape(raised: Exception, status: int, code: str) -> None:
    @api_errors
    def handler() -> Any:
        raise raised

    response = handler()
    assert response.status_code == status
    assert json.loads(response.body)["error"] == code
    assert set(json.loads(response.body)) == {"error", "message", "details"}
