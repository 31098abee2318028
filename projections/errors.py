"""Errors raised by folds and the replay engine."""

from __future__ import annotations

__all__ = ["InvalidLine", "NegativeBalance", "ProjectionError"]


class ProjectionError(ValueError):
    """An event stream that no valid history can produce (e.g. a deposit before the opening)."""


class NegativeBalance(ProjectionError):
    """A withdrawal larger than the balance: the ledger's invariant was broken upstream."""

    def __init__(self, account_id: str, version: int, balance_cents: int, amount_cents: int):
        super().__init__(
            f"account {account_id} v{version}: withdrawal of {amount_cents} cents "
            f"exceeds balance of {balance_cents} cents"
        )
        self.account_id = account_id
        self.version = version


class InvalidLine(ValueError):
    """A replayed line that is not a CloudEvent with subject, aggregateversion, type and time."""
