"""The ledger: the DynamoDB write model of every aggregate's events.

Item layout (partition ``aggregate_id``, sort ``version``)::

    {"aggregate_id": S, "version": N, "event_id": S, "type": S, "time": S,
     "event": S}   # ``event`` is the CloudEvent JSON

A new event is written with ``attribute_not_exists(version)``, so two writers
of the same next version cannot both commit (optimistic concurrency).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo import transact_put
from chalicelib.domain.events import CloudEvent, parse_event
from chalicelib.domain.exceptions import ConcurrencyConflict

__all__ = ["EventLedger", "ledger_item"]


def ledger_item(event: CloudEvent) -> dict[str, Any]:
    """The ledger item that stores ``event``."""
    return {
        "aggregate_id": event.subject,
        "version": event.aggregateversion,
        "event_id": event.id,
        "type": event.type,
        "time": event.time,
        "event": event.to_json().decode(),
    }


def ledger_put(table_name: str, event: CloudEvent) -> dict[str, Any]:
    """A TransactWriteItems ``Put`` that appends ``event`` only if its version is free."""
    return transact_put(table_name, ledger_item(event), "attribute_not_exists(version)")


class EventLedger:
    """Append and read events; ``table`` is a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def append(self, events: Sequence[CloudEvent]) -> None:
        """Append events of one aggregate atomically; ConcurrencyConflict if a version is taken."""
        if not events:
            return
        client = self._table.meta.client
        items = [ledger_put(self.table_name, e) for e in events]
        try:
            if len(items) == 1:
                put = items[0]["Put"]
                client.put_item(**put)
            else:
                client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise ConcurrencyConflict(events[0].subject) from exc
            raise

    def raw_event(self, aggregate_id: str, version: int) -> str | None:
        """One event of the aggregate as CloudEvent JSON, or None."""
        item = self._table.get_item(
            Key={"aggregate_id": aggregate_id, "version": version}, ConsistentRead=True
        ).get("Item")
        return None if item is None else str(item["event"])

    def load(self, aggregate_id: str, *, after_version: int = 0) -> list[CloudEvent]:
        """The aggregate's events with version > after_version, in version order."""
        return [parse_event(item["event"]) for item in self._query(aggregate_id, after_version)]

    def raw_events(self, aggregate_id: str, *, after_version: int = 0) -> list[str]:
        """Like load, as CloudEvent JSON strings (no validation)."""
        return [str(item["event"]) for item in self._query(aggregate_id, after_version)]

    def _query(self, aggregate_id: str, after_version: int) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("aggregate_id").eq(aggregate_id)
            & Key("version").gt(after_version),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan_raw(self) -> Iterator[str]:
        """Every event in the ledger as CloudEvent JSON, in no particular order."""
        kwargs: dict[str, Any] = {
            "ProjectionExpression": "#e",
            "ExpressionAttributeNames": {"#e": "event"},
        }
        while True:
            page = self._table.scan(**kwargs)
            for item in page.get("Items", []):
                yield str(item["event"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
