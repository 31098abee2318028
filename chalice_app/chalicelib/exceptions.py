"""Exceptions of chalicelib; the HTTP layer maps ApiError subclasses to responses."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BatchItemFailures",
    "ConcurrencyConflict",
    "Conflict",
    "InvalidEvent",
    "NotFound",
    "OutOfOrderEvent",
    "ValidationFailed",
]


class InvalidEvent(ValueError):
    """A message or record that is not a valid platform event (poison)."""


class OutOfOrderEvent(RuntimeError):
    """An event arrived before its predecessor; retry it later."""


class ConcurrencyConflict(RuntimeError):
    """Another writer appended the same aggregate version first; reload and retry."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(f"version conflict on aggregate {aggregate_id}")
        self.aggregate_id = aggregate_id


class ApiError(Exception):
    """An error with a documented HTTP shape: ``{"error","message","details"}``."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, details: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


class ValidationFailed(ApiError):
    status_code = 400
    code = "validation_error"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class BatchItemFailures(RuntimeError):
    """Some records of a batch failed; the successes were already acknowledged."""

    def __init__(self, failed_ids: list[str]) -> None:
        super().__init__(f"{len(failed_ids)} record(s) failed: {', '.join(failed_ids)}")
        self.failed_ids = failed_ids
