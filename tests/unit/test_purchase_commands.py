"""Purchase commands: the aggregate's pure decide, and the service on in-memory fakes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.adapters.idempotency import Outcome
from chalicelib.domain.events import PurchaseMade
from chalicelib.domain.exceptions import NotFound
from chalicelib.domain.purchase_aggregate import RecordPurchase, decide, purchase_id
from chalicelib.service.purchases import MakePurchase
from chalicelib.service.users import RegisterUser
from tests.fakes import Services, services

ORDER = MakePurchase(order_id="order-1", amount=Decimal("42.00"), currency="EUR")


def _with_ada() -> Services:
    world = services()
    request = RegisterUser(name="Ada", lastname="Lovelace", address="12 St James's Square")
    world.users.register("ada", request, "ada@example.com", scope="POST /users")
    return world


def test_a_new_order_decides_purchase_made_and_a_known_one_nothing() -> None:
    command = RecordPurchase("ada", "order-1", Decimal("42.00"), "EUR")
    assert decide(None, command) == [
        PurchaseMade(user_id="ada", order_id="order-1", amount=Decimal("42.00"), currency="EUR")
    ]
    assert decide({"id": "first"}, command) == []


def test_the_order_id_is_a_natural_key_per_user() -> None:
    assert purchase_id("ada", "o-1") == purchase_id("ada", "o-1")
    assert (
        len({purchase_id("ada", "o-1"), purchase_id("ada", "o-2"), purchase_id("eve", "o-1")}) == 3
    )


def test_a_purchase_is_recorded_once_per_order() -> None:
    # GIVEN ada
    world = _with_ada()
    # WHEN she buys order-1, then sends order-1 again with another amount
    first = world.purchases.purchase("ada", ORDER, scope="p", idempotency_key=None)
    again = world.purchases.purchase(
        "ada", ORDER.model_copy(update={"amount": Decimal(1)}), scope="p", idempotency_key=None
    )
    # THEN the first is created (version 1 of the order's aggregate), the second answers it
    (event,) = world.ledger.events(purchase_id("ada", "order-1"))
    assert first.outcome is Outcome.CREATED
    assert first.body == {
        "event_id": event["id"],
        "purchase_id": purchase_id("ada", "order-1"),
        "user_id": "ada",
        "order_id": "order-1",
        "amount": "42.00",
        "currency": "EUR",
        "time": "2026-05-01T09:00:00.000000Z",
    }
    assert (again.outcome, again.body) == (Outcome.COMPLETED, first.body)


def test_an_unknown_or_erased_person_buys_nothing() -> None:
    world = _with_ada()
    world.users.erase("ada", scope="s")
    for user_id in ("ada", "nobody"):
        with pytest.raises(NotFound):
            world.purchases.purchase(user_id, ORDER, scope="p", idempotency_key=None)
    assert world.ledger.raw_events(purchase_id("ada", "order-1")) == []
