"""HTTP edge helpers: documented error shapes and response bodies out.

Imported with app.py by every function, so it imports no pydantic model and
no token verification: a success body is shaped by ``roots.responses`` (the
response models), imported on the first request that returns one (but GET
/health, whose constant body needs no shaping), and a
token is verified by ``roots.caller`` (cryptography's RSA), imported on the first request
to a route that is not public.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import orjson
from chalice import Response
from chalice.app import Request

from chalicelib.adapters.idempotency import Outcome, StoredResponse
from chalicelib.adapters.observability import bind_caller
from chalicelib.domain.access import is_public
from chalicelib.domain.exceptions import (
    ApiError,
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    IdentityUnavailable,
    NotFound,
    Unauthorized,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from chalicelib.entrypoints import roots
from chalicelib.entrypoints.edge import MAX_PATH_PARAMETER_LENGTH, error_body, status_error

__all__ = [
    "CALLER",
    "api_errors",
    "authenticate",
    "error_response",
    "json_response",
    "respond",
    "status_of",
]

logger = logging.getLogger(__name__)

# Where the authentication middleware leaves the verified Caller in the request context.
CALLER = "caller"
# The status of each kind of domain error (the most specific kind wins).
STATUS_CODES: dict[type[DomainError], int] = {
    ValidationFailed: 400,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
    Unauthorized: 401,
    Forbidden: 403,
    IdempotencyKeyReused: 422,
    Unprocessable: 422,
    IdentityUnavailable: 503,
}


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON response; ``api_errors`` shapes its body with the route's model and serializes it."""
    return Response(
        body=body, status_code=status_code, headers={"Content-Type": "application/json"}
    )


def _finish(view_name: str, response: Response) -> Response:
    # A route's success body is shaped by its response model (roots.responses);
    # error bodies (no view name) have one shape already, and a body serialized
    # already (GET /health's constant, edge.HEALTH_BODY) is sent as it is.
    if isinstance(response.body, (dict, list)):
        body = response.body
        if view_name:
            body = roots.responses.shape_body(view_name, response.status_code, body)
        response.body = orjson.dumps(body).decode()
    return response


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error."""
    if isinstance(error, ApiError):
        return error.status_code
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 400


def error_response(error: DomainError) -> Response:
    """The documented JSON response of a domain error."""
    response = _finish("", json_response(error_body(error), status_of(error)))
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def authenticate(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware body: verify the bearer token of every non-public route.

    The verified Caller goes into ``request.context[CALLER]`` for the route;
    any failure answers in the documented shape before the route runs. A
    public route neither needs nor imports the verification (roots.caller).
    """
    if is_public(request.method, request.path):
        return get_response(request)
    try:
        caller = roots.caller.verify_caller(request.headers.get("authorization"))
    except DomainError as exc:
        return error_response(exc)
    request.context[CALLER] = caller
    # Every later line of this request carries who made it.
    bind_caller(caller.sub)
    return get_response(request)


_OUTCOME_STATUS = {Outcome.CREATED: 201, Outcome.ACCEPTED: 202, Outcome.COMPLETED: 200}


def respond(stored: StoredResponse) -> Response:
    """The JSON response of a command's (possibly stored) result."""
    return json_response(stored.body, _OUTCOME_STATUS[stored.outcome])


def api_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Turn DomainError into its documented JSON response; log anything else as a 500.

    A success body is shaped by the route's response model (api_routes).

    Path parameters longer than any id this API issues get a 404 before the
    handler runs.
    """

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        too_long = [
            name for name, value in kwargs.items() if len(value) > MAX_PATH_PARAMETER_LENGTH
        ]
        if too_long:
            return error_response(NotFound(f"no such {too_long[0].removesuffix('_id')}"))
        try:
            return _finish(handler.__name__, handler(*args, **kwargs))
        except DomainError as exc:
            return error_response(exc)
        except Exception:
            logger.exception("unhandled error in %s", handler.__name__)
            return _finish(
                "", json_response(error_body(status_error(500, "internal server error")), 500)
            )

    return wrapper
