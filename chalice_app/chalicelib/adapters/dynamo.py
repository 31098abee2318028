"""DynamoDB low-level helpers shared by the stores."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["ITEM_SIZE_LIMIT", "cancellation_codes", "item_size", "transact_put"]

# DynamoDB refuses an item larger than this (names and values, as item_size counts).
ITEM_SIZE_LIMIT = 400 * 1024


def transact_put(table_name: str, item: dict[str, Any], condition: str) -> dict[str, Any]:
    """A TransactWriteItems ``Put`` of ``item`` guarded by ``condition``.

    For a Table resource's ``meta.client``, which serializes Python values itself.
    """
    return {
        "Put": {
            "TableName": table_name,
            "Item": item,
            "ConditionExpression": condition,
        }
    }


def cancellation_codes(error_response: dict[str, Any]) -> list[str | None]:
    """Per-item codes of a TransactionCanceledException (None where the item passed)."""
    reasons = error_response.get("CancellationReasons") or []
    return [r.get("Code") if r.get("Code") != "None" else None for r in reasons]


def item_size(item: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for ``item`` (Python values as the boto3 resource takes them).

    By AWS's published rules: names and strings in UTF-8 bytes, a number one
    byte per two significant digits plus one, a list or map 3 bytes plus one
    per element, booleans and null one byte.
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        digits = str(abs(Decimal(value)).normalize()).replace(".", "").lstrip("0")
        return (len(digits) + 1) // 2 + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + _value_size(v) for v in value)
    if isinstance(value, set | frozenset):
        return sum(_value_size(v) for v in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")
