"""HTTP edge helpers: JSON bodies in, documented error shapes out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from chalice import Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.access import Caller, is_public
from chalicelib.exceptions import (
    ApiError,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    IdentityUnavailable,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from chalicelib.idempotency import StoredResponse
from chalicelib.observability import bind_caller

__all__ = [
    "CALLER",
    "MAX_BODY_BYTES",
    "api_errors",
    "authenticate",
    "error_response",
    "json_response",
    "parse_body",
    "respond",
    "status_of",
    "validation_details",
]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# No id this API issues is longer; DynamoDB rejects keys over 2 KB with a 500-worthy error.
MAX_PATH_PARAMETER_LENGTH = 256
ModelT = TypeVar("ModelT", bound=BaseModel)
# Where the authentication middleware leaves the verified Caller in the request context.
CALLER = "caller"
# The status of each DomainError that does not name its own (ApiError does).
STATUS_CODES: dict[type[DomainError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    IdempotencyKeyReused: 422,
    IdentityUnavailable: 503,
}


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON response serialized with orjson."""
    return Response(
        body=orjson.dumps(body).decode(),
        status_code=status_code,
        headers={"Content-Type": "application/json"},
    )


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
    response = json_response(error.body(), status_of(error))
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def authenticate(
    request: Request,
    get_response: Callable[[Request], Response],
    verify: Callable[[str | None], Caller],
) -> Response:
    """Chalice HTTP middleware body: verify the bearer token of every non-public route.

    The verified Caller goes into ``request.context[CALLER]`` for the route;
    any failure answers in the documented shape before the route runs.
    """
    if is_public(request.method, request.path):
        return get_response(request)
    try:
        caller = verify(request.headers.get("authorization"))
    except DomainError as exc:
        return error_response(exc)
    request.context[CALLER] = caller
    # Every later line of this request carries who made it.
    bind_caller(caller.sub)
    return get_response(request)


def respond(stored: StoredResponse) -> Response:
    """The JSON response of a command's (possibly stored) result."""
    return json_response(stored.body, stored.status_code)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Per-field error details of a pydantic ValidationError."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        details.append({"field": field, "message": error["msg"], "type": error["type"]})
    return details


def parse_body(raw_body: bytes | str | None, model: type[ModelT]) -> ModelT:
    """Decode a JSON object body and validate it; ValidationFailed on anything else."""
    if raw_body is None or len(raw_body) == 0:
        raise ValidationFailed(
            "request body must be a JSON object",
            details=[{"field": "body", "message": "missing body"}],
        )
    if len(raw_body) > MAX_BODY_BYTES:
        raise ValidationFailed(
            f"request body exceeds {MAX_BODY_BYTES} bytes",
            details=[{"field": "body", "message": "too large"}],
        )
    try:
        data = orjson.loads(raw_body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            "request body is not valid JSON", details=[{"field": "body", "message": str(exc)}]
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            "request body must be a JSON object",
            details=[{"field": "body", "message": "expected an object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "request validation failed", details=validation_details(exc)
        ) from None


def api_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Turn DomainError into its documented JSON response; log anything else as a 500.

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
            return handler(*args, **kwargs)
        except DomainError as exc:
            return error_response(exc)
        except Exception:
            logger.exception("unhandled error in %s", handler.__name__)
            return json_response(
                {"error": "internal_error", "message": "internal server error", "details": []},
                500,
            )

    return wrapper
