"""Exceptions of chalicelib; the HTTP layer maps them to responses.

``DomainError`` carries what the documented body says (code, message,
details) and no status code: chalicelib.entrypoints.http maps each class to its status,
and chalicelib.entrypoints.edge.error_body writes the body. Only ``ApiError``,
the HTTP edge's own errors (405, 413, 415), names its status.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "ConcurrencyConflict",
    "Conflict",
    "DomainError",
    "Forbidden",
    "IdempotencyKeyReused",
    "IdentityUnavailable",
    "InjectedFault",
    "InvalidEvent",
    "MethodNotAllowed",
    "MissingSetting",
    "NotFound",
    "OutOfOrderEvent",
    "PayloadTooLarge",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMediaType",
    "ValidationFailed",
]


class InvalidEvent(ValueError):
    """A message or record that is not a valid platform event (poison)."""


class InjectedFault(RuntimeError):
    """A failure switched on through the fault-injection setting (failure drills)."""


class OutOfOrderEvent(RuntimeError):
    """An event arrived before its predecessor; retry it later."""


class ConcurrencyConflict(RuntimeError):
    """Another writer appended the same aggregate version first; reload and retry."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(f"version conflict on aggregate {aggregate_id}")
        self.aggregate_id = aggregate_id


class MissingSetting(RuntimeError):
    """A setting the deployment needs is not in the environment."""


class DomainError(Exception):
    """An error a caller may see: ``{"error","message","details"}``."""

    code = "bad_request"

    def __init__(
        self, message: str, *, details: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code is not None:
            self.code = code


class Unauthorized(DomainError):
    """No valid access token of the platform's user pool."""

    code = "unauthorized"


class Forbidden(DomainError):
    """The caller is known but lacks the group the operation needs."""

    code = "forbidden"


class IdempotencyKeyReused(DomainError):
    """The caller's Idempotency-Key was first used with another request body."""

    code = "idempotency_key_reused"


class IdentityUnavailable(DomainError):
    """The user pool's signing keys cannot be fetched right now."""

    code = "identity_unavailable"


class ValidationFailed(DomainError):
    """The input breaks a rule of its shape or values."""

    code = "validation_error"


class NotFound(DomainError):
    """The addressed resource does not exist (or is not visible)."""

    code = "not_found"


class ApiError(DomainError):
    """An error of the HTTP edge itself (method, size, media type): it names its status."""

    status_code = 400


class MethodNotAllowed(ApiError):
    status_code = 405
    code = "method_not_allowed"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class Conflict(DomainError):
    """The request contradicts the current state (e.g. insufficient funds, email taken)."""

    code = "conflict"


class Unprocessable(DomainError):
    """The request is well formed but contradicts a fact the caller cannot change."""

    code = "unprocessable"


class Unavailable(DomainError):
    """A capability the request needs is not set up or not reachable; try again later."""

    code = "unavailable"
