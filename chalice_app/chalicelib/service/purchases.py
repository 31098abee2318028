"""Purchases: the service that records a user's orders (purchase_aggregate decides).

The purchase's aggregate id is a UUIDv5 of the user id and order id; its only
event is version 1. A second purchase with the same order id finds that
version taken and answers with the first purchase (200), appending nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from chalicelib.adapters.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.adapters.unit_of_work import EventStore
from chalicelib.domain import purchase_aggregate
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.events import PurchaseMade, new_event
from chalicelib.domain.exceptions import NotFound
from chalicelib.domain.inputs import ClientId, Currency
from chalicelib.domain.money import PositiveAmount
from chalicelib.domain.purchase_aggregate import RecordPurchase, purchase_id
from chalicelib.service.commands import Changes, CommandRunner

__all__ = ["MakePurchase", "PurchaseService", "purchase_id"]


class MakePurchase(BaseModel):
    """The body of ``POST /users/{id}/purchases``."""

    # Built on its route's first request: a route builds only its own request model.
    model_config = ConfigDict(
        extra="ignore",
        defer_build=True,
        json_schema_extra={
            "examples": [{"order_id": "order-1001", "amount": "42.00", "currency": "EUR"}]
        },
    )
    order_id: ClientId
    amount: PositiveAmount
    currency: Currency


def _view(event: Mapping[str, Any]) -> dict[str, Any]:
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


class _Purchases:
    """The purchase command's load and record (purchase_aggregate.decide decides)."""

    def __init__(self, ledger: EventStore, clock: Clock) -> None:
        self._ledger = ledger
        self._clock = clock

    def load(self, command: RecordPurchase) -> dict[str, Any] | None:
        raw = self._ledger.raw_event(command.purchase_id, 1)
        return None if raw is None else dict(orjson.loads(raw))

    def decide(
        self, state: Mapping[str, Any] | None, command: RecordPurchase
    ) -> list[PurchaseMade]:
        return purchase_aggregate.decide(state, command)

    def record(
        self,
        state: Mapping[str, Any] | None,
        command: RecordPurchase,
        events: Sequence[PurchaseMade],
    ) -> Changes:
        if state is not None:
            return Changes(StoredResponse(Outcome.COMPLETED, _view(state)))
        envelopes = [
            new_event(data, subject=command.purchase_id, version=1, time=self._clock.now())
            for data in events
        ]
        return Changes(StoredResponse(Outcome.CREATED, _view(envelopes[0].to_dict())), envelopes)


class PurchaseService:
    """Records purchases of people who exist (``person_exists``: registered, not erased)."""

    def __init__(
        self,
        ledger: EventStore,
        runner: CommandRunner,
        person_exists: Callable[[str], bool],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._handler = _Purchases(ledger, clock)
        self._runner = runner
        self._person_exists = person_exists

    def purchase(
        self,
        user_id: str,
        request: MakePurchase,
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None,
    ) -> StoredResponse:
        """Record the order (201), or answer the first purchase of its order id (200).

        NotFound for a person who does not exist; ``scope`` is the route's.
        """
        if not self._person_exists(user_id):
            raise NotFound(f"user {user_id} not found")
        command = RecordPurchase(user_id, request.order_id, request.amount, request.currency)
        return self._runner.run(
            self._handler, command, scope=scope, idempotency_key=idempotency_key
        )
