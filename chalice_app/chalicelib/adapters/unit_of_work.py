"""The write side's ports: where a command loads its state from and commits to.

A command commits one unit of work, all or nothing: its new events, the
guarded side writes that must commit with them (a user item, an email lock, a
data key) and, when the caller sent an Idempotency-Key, the response recorded
under it. The DynamoDB adapter (dynamo_unit_of_work) writes it as one
transaction; tests use in-memory fakes of the same ports (tests/fakes.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from chalicelib.adapters.idempotency import IdempotencyKey, StoredResponse
from chalicelib.domain.events import CloudEvent
from chalicelib.domain.exceptions import DomainError

__all__ = [
    "Delete",
    "EventStore",
    "IdempotencyRecord",
    "Items",
    "KeyAlreadyRecorded",
    "Put",
    "UnitOfWork",
    "Update",
    "Write",
]


class Put(msgspec.Struct, frozen=True):
    """Write ``item`` (its key attributes named by ``key``), only if it is absent.

    When it is not absent, the commit raises ``conflict``; with no conflict
    the command decides again on fresh state.
    """

    table: str
    item: Mapping[str, Any]
    key: tuple[str, ...] = ("pk",)
    conflict: DomainError | None = None


class Update(msgspec.Struct, frozen=True):
    """Set ``values`` on the item at ``key``, which must exist (else decide again)."""

    table: str
    key: Mapping[str, Any]
    values: Mapping[str, Any]


class Delete(msgspec.Struct, frozen=True):
    """Delete the item at ``key`` (nothing if it is gone already)."""

    table: str
    key: Mapping[str, Any]


Write = Put | Update | Delete


class IdempotencyRecord(msgspec.Struct, frozen=True):
    """The response to record under a caller's Idempotency-Key in ``scope`` (a route)."""

    scope: str
    key: IdempotencyKey
    response: StoredResponse


class KeyAlreadyRecorded(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


class UnitOfWork(Protocol):
    """Commits a command's events, side writes and idempotency record atomically."""

    def recorded(self, scope: str, key: IdempotencyKey) -> StoredResponse | None:
        """The response recorded under ``key``; IdempotencyKeyReused for another body."""
        ...

    def commit(
        self,
        events: Sequence[CloudEvent],
        writes: Sequence[Write],
        record: IdempotencyRecord | None,
    ) -> None:
        """All or nothing; on failure nothing was written and it raises:

        - KeyAlreadyRecorded when ``record``'s key was recorded meanwhile;
        - the ``conflict`` of the first Put that found its item;
        - ConcurrencyConflict otherwise (a version taken, a lost race): decide again.
        """
        ...


class EventStore(Protocol):
    """Reads an aggregate's events, in version order (the ledger)."""

    def load(self, aggregate_id: str, *, after_version: int = 0) -> list[CloudEvent]:
        """Events with version > ``after_version``, parsed."""
        ...

    def raw_events(self, aggregate_id: str, *, after_version: int = 0) -> list[str]:
        """Like ``load``, as CloudEvent JSON."""
        ...

    def raw_event(self, aggregate_id: str, version: int) -> str | None:
        """One event as CloudEvent JSON, or None."""
        ...


class Items(Protocol):
    """A table's items, read consistently (what side writes wrote)."""

    @property
    def name(self) -> str:
        """The table's name, as side writes address it."""
        ...

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        """The item at ``key``, or None (``consistent=False``: it may lag a commit)."""
        ...
