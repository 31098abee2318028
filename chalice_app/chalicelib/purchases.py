"""Purchases: one aggregate per (user, order_id), so the order id is a natural key.

The purchase's aggregate id is a UUIDv5 of the user id and order id; its only
event is version 1. A second purchase with the same order id finds that
version taken and answers with the first purchase (200), appending nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from chalicelib.commands import CommandRunner, Decision
from chalicelib.events import PurchaseMade, new_event
from chalicelib.exceptions import NotFound
from chalicelib.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.inputs import ClientId, Currency
from chalicelib.ledger import EventLedger
from chalicelib.money import PositiveAmount

__all__ = ["MakePurchase", "PurchaseService", "purchase_id"]

_NAMESPACE = uuid.UUID("5b0c7a51-8a43-4a8e-9d3c-6f1f0e0c2b71")


def purchase_id(user_id: str, order_id: str) -> str:
    """The purchase aggregate id of a user's order."""
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}\x00{order_id}"))


class MakePurchase(BaseModel):
    """The body of ``POST /users/{id}/purchases``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"order_id": "order-1001", "amount": "42.00", "currency": "EUR"}]
        },
    )
    order_id: ClientId
    amount: PositiveAmount
    currency: Currency


def _view(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    return {
        "event_id": event["id"],
        "purchase_id": event["subject"],
        "user_id": data["user_id"],
        "order_id": data["order_id"],
        "amount": data["amount"],
        "currency": data["currency"],
        "time": event["time"],
    }


class PurchaseService:
    """Records purchases; ``user_exists`` checks the path's user."""

    def __init__(self, ledger: EventLedger, runner: CommandRunner) -> None:
        self._ledger = ledger
        self._runner = runner

    def purchase(
        self,
        user_id: str,
        request: MakePurchase,
        *,
        user_exists: bool,
        idempotency_key: IdempotencyKey | None,
    ) -> StoredResponse:
        if not user_exists:
            raise NotFound(f"user {user_id} not found")
        aggregate_id = purchase_id(user_id, request.order_id)

        def decide() -> Decision:
            existing = self._ledger.raw_events(aggregate_id)
            if existing:
                return Decision(
                    response=StoredResponse(Outcome.COMPLETED, _view(orjson.loads(existing[0])))
                )
            event = new_event(
                PurchaseMade(
                    user_id=user_id,
                    order_id=request.order_id,
                    amount=request.amount,
                    currency=request.currency,
                ),
                subject=aggregate_id,
                version=1,
            )
            return Decision(
                response=StoredResponse(Outcome.CREATED, _view(event.to_dict())), events=[event]
            )

        return self._runner.run(
            decide, scope=f"POST /users/{user_id}/purchases", idempotency_key=idempotency_key
        )
