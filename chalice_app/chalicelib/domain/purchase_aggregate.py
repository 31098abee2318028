"""The purchase aggregate: one per (user, order id), so the order id is a natural key.

Pure: no I/O and no clock. Its only event is version 1; recording the same
order again decides nothing (the first purchase stands).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from chalicelib.domain.events import PurchaseMade

__all__ = ["RecordPurchase", "decide", "purchase_id"]

_NAMESPACE = uuid.UUID("5b0c7a51-8a43-4a8e-9d3c-6f1f0e0c2b71")


def purchase_id(user_id: str, order_id: str) -> str:
    """The purchase aggregate id of a user's order."""
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}\x00{order_id}"))


class RecordPurchase(msgspec.Struct, frozen=True):
    """``user_id`` bought order ``order_id`` for ``amount`` in ``currency``."""

    user_id: str
    order_id: str
    amount: Decimal
    currency: str

    @property
    def purchase_id(self) -> str:
        return purchase_id(self.user_id, self.order_id)


def decide(state: Mapping[str, Any] | None, command: RecordPurchase) -> list[PurchaseMade]:
    """``purchase.made`` for a new order; nothing when ``state`` (its first event) exists."""
    if state is not None:
        return []
    return [
        PurchaseMade(
            user_id=command.user_id,
            order_id=command.order_id,
            amount=command.amount,
            currency=command.currency,
        )
    ]
