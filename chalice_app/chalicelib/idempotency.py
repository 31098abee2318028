"""Idempotency keys: the first response to a key is stored with the command's events.

The response item is written in the same DynamoDB transaction as the events,
so a key is recorded if and only if its command committed; a retry with the
same key gets the stored response and appends nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from chalicelib.dynamo import transact_put

__all__ = ["IdempotencyStore", "StoredResponse"]

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


class IdempotencyStore:
    """Stored responses per (scope, key); takes the idempotency Table resource."""

    def __init__(self, table: Any, ttl_seconds: int) -> None:
        self._table = table
        self._ttl = ttl_seconds

    @staticmethod
    def _pk(scope: str, key: str) -> str:
        return f"{scope}#{key}"

    def get(self, scope: str, key: str) -> StoredResponse | None:
        item = self._table.get_item(Key={"pk": self._pk(scope, key)}, ConsistentRead=True).get(
            "Item"
        )
        if item is None or int(item.get("expires_at", 0)) < time.time():
            return None
        return StoredResponse(int(item["status_code"]), orjson.loads(item["body"]))

    def put(self, scope: str, key: str, response: StoredResponse) -> dict[str, Any]:
        """The transaction item recording ``response`` for a key not used yet."""
        now = int(time.time())
        item = {
            "pk": self._pk(scope, key),
            "status_code": response.status_code,
            "body": orjson.dumps(response.body).decode(),
            "expires_at": now + self._ttl,
        }
        put = transact_put(self._table.name, item, "attribute_not_exists(pk) OR expires_at < :now")
        # DynamoDB's TTL deletes expired items up to days late; until then they are free.
        put["Put"]["ExpressionAttributeValues"] = {":now": now}
        return put
