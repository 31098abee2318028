"""Every declared read model keeps one key within its declared bound, however many events.

A read model whose item grows with every event folded into it stops at
DynamoDB's 400 KB item limit: its projector put is refused, and that key
stops moving for good. So each declaration (resources.READ_MODELS) states
``max_item_bytes``, and this test folds 100,000 events into one key and
measures the item the store would write. A declaration whose item keeps
only its key's own aggregate's position (``position_items``) is folded that
way, and one whose state is settled at a watermark (``settling``) is settled
as the live projector does, the events coming a second after they are made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from chalicelib import resources
from chalicelib.adapters.read_model_catalog import bind
from chalicelib.service.projector import settle_watermark
from projections.catalogue import (
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    Event,
    EventData,
    LoyaltyLeft,
    PurchaseMade,
    UserCreated,
    new,
)

EVENTS = 100_000
START = datetime(2026, 1, 1, tzinfo=UTC)
# One event every two hours: 100,000 events span about 23 years.
STEP = timedelta(hours=2)


def _time(n: int) -> str:
    return (START + n * STEP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(data: EventData, subject: str, version: int, time: str) -> Event:
    return new(
        data, id=f"{subject}-{version}", subject=subject, aggregateversion=version, time=time
    )


def one_account(count: int) -> Iterator[Event]:
    """An account opened, then deposits and withdrawals alternating (never overdrawn)."""
    subject = "acc-heavy"
    yield _event(
        AccountOpened(account_id=subject, owner_id="ada", currency="EUR"), subject, 1, _time(0)
    )
    for n in range(1, count):
        kind = AccountDeposited if n % 2 else AccountWithdrawn
        yield _event(kind(account_id=subject, amount="12.34"), subject, n + 1, _time(n))


def one_buyer(count: int) -> Iterator[Event]:
    """A member registers, buys (each purchase an aggregate of its own), leaves half way."""
    user = "u-heavy"
    created = UserCreated(
        user_id=user,
        name="sealed",
        lastname="sealed",
        email="sealed",
        address="sealed",
        loyalty=True,
    )
    yield _event(created, user, 1, _time(0))
    for n in range(1, count):
        if n == count // 2:
            yield _event(LoyaltyLeft(user_id=user), user, 2, _time(n))
            continue
        order = PurchaseMade(user_id=user, order_id=f"o{n}", amount="42.50", currency="EUR")
        yield _event(order, f"purchase-{n}", 1, _time(n))


# How to drive 100,000 events into one key of each declared read model.
HEAVY_KEYS: dict[str, Callable[[int], Iterator[Event]]] = {
    "accounts": one_account,
    "statements": one_account,
    "loyalty": one_buyer,
}


def item_bytes(item: dict[str, Any]) -> int:
    """An upper estimate of a DynamoDB item's size: its JSON (names, values, punctuation)."""
    return len(orjson.dumps(item, default=str))


def test_every_declared_read_model_has_a_heavy_key() -> None:
    declared = {spec.name for spec in resources.READ_MODELS}
    assert declared == set(HEAVY_KEYS)


@pytest.mark.parametrize("name", sorted(HEAVY_KEYS))
def test_one_key_stays_within_its_declared_bound_after_100000_events(name: str) -> None:
    # GIVEN a declared read model and 100,000 events of one key
    spec = resources.read_model_spec(name)
    model = bind(spec)
    settling = model.fold.settling
    state: Any = None
    positions: dict[str, int] = {}
    key = None
    applied = 0
    # WHEN folded one by one, as the live projector does
    for event in HEAVY_KEYS[name](EVENTS):
        key = model.fold.key(event)
        assert key is not None
        state = model.fold.evolve(state, event)
        applied += 1
        if model.keeps_in_item(key, event.subject, positions):
            positions[event.subject] = event.aggregateversion
        if settling is not None:
            projected_at = datetime.fromisoformat(event.time) + timedelta(seconds=1)
            watermark = settle_watermark(projected_at)
            if settling.due(state, watermark):
                state = settling.settle(state, watermark)
    assert key is not None and applied == EVENTS
    # THEN the item the store writes stays within the declared bound (and DynamoDB's)
    size = item_bytes(model.item(key, state, positions, applied))
    assert size <= spec.max_item_bytes < 400_000, f"{name}: {size} bytes"
