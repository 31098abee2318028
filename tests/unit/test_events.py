"""Event models: validation and the round trip through the official CloudEvents SDK."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cloudevents.core.formats.json import JSONFormat

from chalicelib.domain.events import (
    DATA_MODELS,
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    CloudEvent,
    Consents,
    ConsentsChanged,
    EventData,
    LoyaltyJoined,
    LoyaltyLeft,
    PurchaseMade,
    UserCreated,
    UserErased,
    format_time,
    new_event,
    parse_event,
)
from chalicelib.domain.exceptions import InvalidEvent

SAMPLES: list[EventData] = [
    UserCreated(
        user_id="u-1",
        name="Ada",
        lastname="Lovelace",
        email="ada@example.com",
        address={"street": "12 St James's Square", "city": "London"},
        loyalty=True,
        marketing=True,
    ),
    UserErased(user_id="u-1", loyalty=True, marketing=False),
    LoyaltyJoined(user_id="u-1"),
    LoyaltyLeft(user_id="u-1"),
    ConsentsChanged(user_id="u-1", marketing=True, previous=Consents(marketing=False)),
    AccountOpened(account_id="a-1", owner_id="u-1", currency="EUR"),
    AccountDeposited(account_id="a-1", amount=Decimal("12.5")),
    AccountWithdrawn(account_id="a-1", amount="0.01"),
    PurchaseMade(user_id="u-1", order_id="o-1", amount="99.99", currency="EUR"),
]


def test_samples_cover_every_event_type() -> None:
    assert {type(s).type for s in SAMPLES} == set(DATA_MODELS)


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).type)
def test_round_trip_through_cloudevents_sdk(data: EventData) -> None:
    # GIVEN one of our events as structured JSON
    event = new_event(
        data, subject="agg-1", version=3, time=datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
    )
    # WHEN the official SDK reads it and writes it back
    fmt = JSONFormat()
    sdk_event = fmt.read(None, event.to_json())
    written = fmt.write(sdk_event)
    # THEN the SDK saw every attribute, and our parser gets the same event back
    assert sdk_event.get_specversion() == "1.0"
    assert sdk_event.get_type() == data.type
    assert sdk_event.get_subject() == "agg-1"
    assert sdk_event.get_extension("aggregateversion") == 3
    sdk_time = sdk_event.get_time()
    assert sdk_time is not None and format_time(sdk_time) == event.time
    assert sdk_event.get_data() == event.to_dict()["data"]
    assert parse_event(written) == event


def test_money_is_a_two_decimal_string() -> None:
    event = new_event(SAMPLES[6], subject="a-1", version=2)
    assert event.to_dict()["data"]["amount"] == "12.50"
    assert event.to_dict()["time"].endswith("Z")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("id"),
        lambda e: e.update(specversion="0.3"),
        lambda e: e.update(aggregateversion=0),
        lambda e: e.update(aggregateversion="one"),
        lambda e: e.update(type="com.example.unknown"),
        lambda e: e["data"].pop("email"),
        lambda e: e["data"].update(loyalty="maybe"),
        lambda e: e.update(time="yesterday"),
    ],
)
def test_invalid_events_are_rejected(mutate: object) -> None:
    raw = new_event(SAMPLES[0], subject="u-1", version=1).to_dict()
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(InvalidEvent):
        parse_event(raw)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'"x"'])
def test_garbage_is_invalid_event(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(raw)


def test_events_are_frozen() -> None:
    event = new_event(SAMPLES[1], subject="a-1", version=1)
    with pytest.raises(AttributeError):
        event.subject = "other"  # type: ignore[misc]
    assert isinstance(event, CloudEvent)
