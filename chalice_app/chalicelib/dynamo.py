"""DynamoDB low-level helpers shared by the stores."""

from __future__ import annotations

from typing import Any

__all__ = ["cancellation_codes", "transact_put"]


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
