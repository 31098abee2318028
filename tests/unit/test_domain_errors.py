"""Domain errors know no HTTP; the edge (chalicelib.entrypoints.http) maps each kind to a status."""

from __future__ import annotations

import inspect
import json

import pytest

from chalicelib.adapters.search import SearchUnavailable
from chalicelib.domain import exceptions
from chalicelib.domain.exceptions import Conflict, DomainError, NotFound, ValidationFailed
from chalicelib.entrypoints.http import error_response, status_of


def test_domain_errors_carry_no_http_status() -> None:
    # GIVEN every exception class of chalicelib but the HTTP edge's own (ApiError: 405, 413, 415)
    classes = [
        c
        for _, c in inspect.getmembers(exceptions, inspect.isclass)
        if not issubclass(c, exceptions.ApiError)
    ]
    # WHEN looking for HTTP status attributes
    # THEN none has one
    assert classes and [c.__name__ for c in classes if hasattr(c, "status_code")] == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationFailed("bad"), 400),
        (NotFound("gone"), 404),
        (Conflict("no", code="insufficient_funds"), 409),
        (SearchUnavailable("later"), 503),
        (DomainError("unclassified"), 400),
    ],
)
def test_the_edge_maps_each_kind_to_its_status(error: DomainError, status: int) -> None:
    # WHEN the HTTP edge renders the error
    response = error_response(error)
    # THEN the status is the kind's, the body the documented shape with the error's code
    assert status_of(error) == response.status_code == status
    body = json.loads(response.body)
    assert set(body) == {"error", "message", "details"} and body["error"] == error.code
