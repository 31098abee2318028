"""Idempotency keys: the first response to a key is stored with the command's events.

The response item is written in the same DynamoDB transaction as the events,
so a key is recorded if and only if its command committed; a retry with the
same key gets the stored response and appends nothing.

A key belongs to one caller and one route (the item's key is caller, route
and key together), and the item holds a fingerprint of the request body: the
same key with another body is ``IdempotencyKeyReused``, never the first
response.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any

import msgspec
import orjson

from chalicelib.adapters.dynamo import transact_put
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.exceptions import IdempotencyKeyReused

__all__ = [
    "MAX_KEY_LENGTH",
    "IdempotencyKey",
    "IdempotencyStore",
    "Outcome",
    "StoredResponse",
    "fingerprint",
    "replay",
]

MAX_KEY_LENGTH = 255


class Outcome(Enum):
    """What a command did; the HTTP layer alone maps it to a status code."""

    CREATED = "created"
    ACCEPTED = "accepted"
    COMPLETED = "completed"


class StoredResponse(msgspec.Struct, frozen=True):
    outcome: Outcome
    body: Any


def fingerprint(body: Any) -> str:
    """SHA-256 of the canonical JSON of a parsed request body (sorted keys, no spaces)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyKey(msgspec.Struct, frozen=True):
    """A client's Idempotency-Key, the caller who sent it and its request's fingerprint."""

    caller: str
    key: str
    fingerprint: str


def replay(
    recorded_fingerprint: str, key: IdempotencyKey, response: StoredResponse
) -> StoredResponse:
    """The recorded ``response`` to a repeat of ``key``; IdempotencyKeyReused if the
    key first answered another body."""
    if recorded_fingerprint != key.fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with another request body",
            details=[{"field": "Idempotency-Key", "message": "reused with another body"}],
        )
    return response


class IdempotencyStore:
    """Stored responses per (caller, scope, key); takes the idempotency Table resource."""

    def __init__(self, table: Any, ttl_seconds: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock

    @staticmethod
    def _pk(scope: str, key: IdempotencyKey) -> str:
        # The caller's sub and the key are the client's; hash them so neither can
        # forge another caller's pk with a '#' of its own.
        owner = hashlib.sha256(f"{key.caller}\x00{key.key}".encode()).hexdigest()
        return f"{scope}#{owner}"

    def get(self, scope: str, key: IdempotencyKey) -> StoredResponse | None:
        """The stored response; IdempotencyKeyReused if it answered another body."""
        item = self._table.get_item(Key={"pk": self._pk(scope, key)}, ConsistentRead=True).get(
            "Item"
        )
        if item is None or int(item.get("expires_at", 0)) < self._clock.now().timestamp():
            return None
        response = StoredResponse(Outcome(item["outcome"]), orjson.loads(item["body"]))
        return replay(str(item.get("fingerprint")), key, response)

    def put(self, scope: str, key: IdempotencyKey, response: StoredResponse) -> dict[str, Any]:
        """The transaction item recording ``response`` for a key not used yet."""
        now = int(self._clock.now().timestamp())
        item = {
            "pk": self._pk(scope, key),
            "fingerprint": key.fingerprint,
            "outcome": response.outcome.value,
            "body": orjson.dumps(response.body).decode(),
            "expires_at": now + self._ttl,
        }
        put = transact_put(self._table.name, item, "attribute_not_exists(pk) OR expires_at < :now")
        # DynamoDB's TTL deletes expired items up to days late; until then they are free.
        put["Put"]["ExpressionAttributeValues"] = {":now": now}
        return put
