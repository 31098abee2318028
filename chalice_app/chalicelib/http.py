"""HTTP edge helpers: JSON bodies in, documented error shapes out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib.exceptions import ApiError, NotFound, ValidationFailed
from chalicelib.idempotency import StoredResponse

__all__ = [
    "MAX_BODY_BYTES",
    "api_errors",
    "json_response",
    "parse_body",
    "respond",
    "validation_details",
]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# No id this API issues is longer; DynamoDB rejects keys over 2 KB with a 500-worthy error.
MAX_PATH_PARAMETER_LENGTH = 256
ModelT = TypeVar("ModelT", bound=BaseModel)


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON response serialized with orjson."""
    return Response(
        body=orjson.dumps(body).decode(),
        status_code=status_code,
        headers={"Content-Type": "application/json"},
    )


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
    """Turn ApiError into its documented JSON response; log anything else as a 500.

    Path parameters longer than any id this API issues get a 404 before the
    handler runs.
    """

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        too_long = [
            name for name, value in kwargs.items() if len(value) > MAX_PATH_PARAMETER_LENGTH
        ]
        if too_long:
            error = NotFound(f"no such {too_long[0].removesuffix('_id')}")
            return json_response(error.body(), error.status_code)
        try:
            return handler(*args, **kwargs)
        except ApiError as exc:
            return json_response(exc.body(), exc.status_code)
        except Exception:
            logger.exception("unhandled error in %s", handler.__name__)
            return json_response(
                {"error": "internal_error", "message": "internal server error", "details": []},
                500,
            )

    return wrapper
