"""The unit of work on DynamoDB: one TransactWriteItems per command.

The events are ledger puts guarded by ``attribute_not_exists(version)``
(optimistic concurrency), the side writes and the idempotency record ride in
the same transaction, so an event exists iff its command committed, and a
key is recorded iff its command committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo import cancellation_codes, transact_put
from chalicelib.adapters.idempotency import IdempotencyKey, IdempotencyStore, StoredResponse
from chalicelib.adapters.ledger import ledger_put
from chalicelib.adapters.unit_of_work import (
    IdempotencyRecord,
    KeyAlreadyRecorded,
    Put,
    Update,
    Write,
)
from chalicelib.domain.events import CloudEvent
from chalicelib.domain.exceptions import ConcurrencyConflict

__all__ = ["DynamoItems", "DynamoUnitOfWork", "transact_item"]


def transact_item(write: Write) -> dict[str, Any]:
    """The TransactWriteItems entry of a side write (for a Table resource's client)."""
    if isinstance(write, Put):
        return transact_put(write.table, dict(write.item), f"attribute_not_exists({write.key[0]})")
    if isinstance(write, Update):
        names = sorted(write.values)
        return {
            "Update": {
                "TableName": write.table,
                "Key": dict(write.key),
                "UpdateExpression": "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(names))),
                "ConditionExpression": f"attribute_exists({next(iter(write.key))})",
                "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(names)},
                "ExpressionAttributeValues": {
                    f":v{i}": write.values[name] for i, name in enumerate(names)
                },
            }
        }
    return {"Delete": {"TableName": write.table, "Key": dict(write.key)}}


class DynamoUnitOfWork:
    """Commits to the ledger table, the side writes' tables and the idempotency table."""

    def __init__(self, ledger_table: Any, idempotency: IdempotencyStore) -> None:
        self._ledger_name = str(ledger_table.name)
        self._client = ledger_table.meta.client
        self._idempotency = idempotency

    def recorded(self, scope: str, key: IdempotencyKey) -> StoredResponse | None:
        return self._idempotency.get(scope, key)

    def commit(
        self,
        events: Sequence[CloudEvent],
        writes: Sequence[Write],
        record: IdempotencyRecord | None,
    ) -> None:
        items = [ledger_put(self._ledger_name, e) for e in events]
        items += [transact_item(w) for w in writes]
        if record is not None:
            items.append(self._idempotency.put(record.scope, record.key, record.response))
        try:
            self._client.transact_write_items(TransactItems=items)
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            codes = cancellation_codes(dict(exc.response))
        failed = {i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
        if record is not None and len(items) - 1 in failed:
            raise KeyAlreadyRecorded(record.scope)
        for index, write in enumerate(writes, len(events)):
            if index in failed and isinstance(write, Put) and write.conflict is not None:
                raise write.conflict
        # A version taken by another writer, or the transaction lost a race.
        raise ConcurrencyConflict(events[0].subject if events else "")


class DynamoItems:
    """A boto3 Table resource as the Items port (consistent reads)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @property
    def name(self) -> str:
        return str(self._table.name)

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        item = self._table.get_item(Key=dict(key), ConsistentRead=consistent).get("Item")
        return None if item is None else dict(item)
