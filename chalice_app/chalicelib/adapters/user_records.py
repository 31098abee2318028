"""Per-user consumer records for filtered streams of the user aggregate.

A consumer behind an SNS filter policy does not receive every version of a
user: the loyalty queue never sees ``consents_changed``, the CRM queue never
sees a registration without marketing consent. So "the next expected
version" cannot mean "the next version delivered". Instead each record keeps
the last aggregate version it *accounted for*, and accounting is strict
(only ``applied + 1``, conditional write, duplicates skipped). When a
delivered event is ahead of ``applied + 1``, the versions in between are read
from the ledger (the source of truth) and accounted for first, in order,
with the consumer's own rules: the ones the filter kept from it change
nothing but the version; one that was merely delayed in the queue is applied
now (its own delivery will be a duplicate). Only a gap the ledger cannot
fill (not committed yet, or lost) fails the message, so SQS retries it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Self

from botocore.exceptions import ClientError

from chalicelib.adapters.subscriber_context import SubscriberContext
from chalicelib.domain.events import CloudEvent, format_time, utc_now
from chalicelib.domain.exceptions import OutOfOrderEvent
from projections.ordering import Arrival, arrival

__all__ = ["History", "UserRecordConsumer", "VersionedUserTable"]

# A user's ledger events with version > the given one, in version order.
History = Callable[[str, int], list[CloudEvent]]


class _Unread:
    """The item was not read yet."""


UNREAD = _Unread()


class VersionedUserTable:
    """One item per user, written only on the next expected version."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, user_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def apply(
        self,
        event: CloudEvent,
        build: Callable[[dict[str, Any] | None], Mapping[str, Any]],
        current: dict[str, Any] | _Unread | None = UNREAD,
    ) -> bool:
        """Write ``build(current item)`` if ``event`` is the next version; False on a duplicate.

        ``current`` is the user's item if the caller just read it (the write's
        condition still checks it); raises OutOfOrderEvent when a predecessor
        has not been applied yet.
        """
        if isinstance(current, _Unread):
            current = self.get(event.subject)
        applied = int(current["version"]) if current else 0
        where = arrival(applied, event.aggregateversion)
        if where is Arrival.DUPLICATE:
            return False
        if where is Arrival.EARLY:
            raise OutOfOrderEvent(
                f"{event.type} v{event.aggregateversion} of {event.subject} before v{applied + 1}"
            )
        record = {
            **build(current),
            "user_id": event.subject,
            "version": event.aggregateversion,
            "last_event_id": event.id,
            # When this consumer applied it: end-to-end latency is this minus event time.
            "applied_at": format_time(utc_now()),
        }
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "version = :applied",
                "ExpressionAttributeValues": {":applied": applied},
            }
            if applied
            else {"ConditionExpression": "attribute_not_exists(user_id)"}
        )
        try:
            self._table.put_item(Item=record, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # A concurrent delivery won: this is a duplicate or it must wait its turn.
            return self._raced(event)
        return True

    def _raced(self, event: CloudEvent) -> bool:
        current = self.get(event.subject)
        applied = int(current["version"]) if current else 0
        if arrival(applied, event.aggregateversion) is Arrival.DUPLICATE:
            return False
        raise OutOfOrderEvent(f"{event.type} v{event.aggregateversion} of {event.subject} raced")


class UserRecordConsumer(ABC):
    """Base of the user-event consumers: strict versions, gaps filled from the ledger.

    Subclasses say what an event does to the record (``build``); an event type
    a consumer does not care about returns the record unchanged.
    """

    def __init__(self, table: Any, history: History) -> None:
        self._store = VersionedUserTable(table)
        self._history = history

    @classmethod
    def from_context(cls, context: SubscriberContext) -> Self:
        """The consumer of a declared subscriber (resources.Subscriber.consumer)."""
        return cls(context.table, context.history)

    @abstractmethod
    def build(self, current: dict[str, Any] | None, event: CloudEvent) -> Mapping[str, Any]:
        """The user's record after ``event`` (``current`` is None for a new user)."""

    def get(self, user_id: str) -> dict[str, Any] | None:
        return self._store.get(user_id)

    def position(self, user_id: str) -> dict[str, Any] | None:
        """The version and event id this consumer last applied for ``user_id``."""
        item = self._store.get(user_id)
        if item is None:
            return None
        return {"version": int(item["version"]), "last_event_id": item.get("last_event_id")}

    def handle(self, event: CloudEvent) -> bool:
        """Apply ``event``; False if it was already applied (duplicate)."""
        current = self._store.get(event.subject)
        applied = int(current["version"]) if current else 0
        if arrival(applied, event.aggregateversion) is not Arrival.EARLY:
            # The write is conditional on this very version: one read is enough.
            return self._store.apply(event, lambda item: self.build(item, event), current)
        self._fill_gap(event, applied)
        return self._apply(event)

    def _fill_gap(self, event: CloudEvent, applied: int) -> None:
        missing = [
            e
            for e in self._history(event.subject, applied)
            if e.aggregateversion < event.aggregateversion
        ]
        expected = list(range(applied + 1, event.aggregateversion))
        if [e.aggregateversion for e in missing] != expected:
            raise OutOfOrderEvent(
                f"{event.type} v{event.aggregateversion} of {event.subject}: "
                f"the ledger does not hold v{applied + 1}..v{event.aggregateversion - 1} yet"
            )
        for earlier in missing:
            self._apply(earlier)

    def _apply(self, event: CloudEvent) -> bool:
        return self._store.apply(event, lambda current: self.build(current, event))
