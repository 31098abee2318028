"""A heavy buyer's loyalty item on DynamoDB Local, which enforces the 400 KB item limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import orjson
import pytest
from bench_loyalty_item import START, USER, heavy_buyer
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo import item_size
from chalicelib.adapters.read_model_catalog import read_model, read_models
from chalicelib.adapters.read_models import ReadModelStore, Stored
from chalicelib.domain.events import LoyaltyJoined, PurchaseMade, new_event, utc_now
from chalicelib.service.projector import project_records, settle_watermark
from projections.loyalty import SETTLE_PENDING_AT, LoyaltyPolicy, LoyaltyProjection
from projections.replay import replay

pytestmark = pytest.mark.slow

POLICY = LoyaltyPolicy(early_adopter_count=0)
SETTINGS = SimpleNamespace(early_adopter_count=0)
LOYALTY = read_model("loyalty", SETTINGS)
MODELS = read_models(SETTINGS)
PURCHASES = 100_000  # per phase: before and after leaving the programme


@pytest.fixture
def table(dynamodb_local_url: str) -> Iterator[Any]:
    """GIVEN a read-model table on DynamoDB Local."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    dynamodb = session.resource("dynamodb", endpoint_url=dynamodb_local_url)
    created = dynamodb.create_table(
        TableName=f"read-models-{uuid.uuid4().hex[:8]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield created
    created.delete()


@pytest.fixture(scope="module")
def heavy_history() -> list[tuple[Any, bytes]]:
    """A member's 100,000 purchases, their leaving, 100,000 more: (time, record)."""
    return list(heavy_buyer(PURCHASES, timedelta(seconds=1)))


def _event_after(model: Any, subject: str, version: int, seconds: int) -> bytes:
    at = START + timedelta(seconds=2 * PURCHASES + 2 + seconds)
    return new_event(model, subject=subject, version=version, time=at).to_json()


def test_a_heavy_buyers_state_fits_and_the_projector_carries_on(
    table: Any, heavy_history: list[tuple[Any, bytes]]
) -> None:
    # GIVEN the heavy buyer's history folded as a replay does, settled at the ledger's watermark
    records = [record for _, record in heavy_history]
    user_events = [r for r in records if orjson.loads(r)["subject"] == USER]
    now = utc_now()
    result = replay(records, LoyaltyProjection(POLICY, watermark=settle_watermark(now)))
    state = result.states[USER]
    store = ReadModelStore(table)
    # WHEN the projector's store writes it (the user's position in it, 200,002 events applied)
    store.save(LOYALTY, USER, Stored(state, {USER: 2}, revision=2 * PURCHASES + 2), 0)
    # AND the projector applies what comes next: a purchase, joining again, another purchase
    joined = _event_after(LoyaltyJoined(user_id=USER), USER, 3, 2)
    user_events.append(joined)
    live = [
        _event_after(
            PurchaseMade(user_id=USER, order_id="x1", amount="99.00", currency="EUR"), "p-x1", 1, 1
        ),
        joined,
        _event_after(
            PurchaseMade(user_id=USER, order_id="x2", amount="7.00", currency="EUR"), "p-x2", 1, 3
        ),
    ]
    stats = project_records(live, store, MODELS, lambda _: user_events, clock=lambda: now)
    # THEN the points read back: the first 100,000 purchases (42 each) and the one after joining
    assert stats.applied == 3
    after = store.state(LOYALTY, USER)
    assert after is not None and after.to_dict(POLICY) == {
        "user_id": USER,
        "enrolled": True,
        "points": PURCHASES * 42 + 7,
        "tier": "gold",
    }
    # AND the item stays small
    item = table.get_item(Key={"pk": f"loyalty#{USER}"})["Item"]
    assert item_size(item) < 8 * 1024
    assert int(item["version"]) == 2 * PURCHASES + 5


def test_the_same_state_unsettled_is_refused_by_dynamodb(
    table: Any, heavy_history: list[tuple[Any, bytes]]
) -> None:
    # GIVEN the same history folded without a watermark: every purchase since leaving is pending
    records = [record for _, record in heavy_history]
    state = replay(records, LoyaltyProjection(POLICY)).states[USER]
    assert len(state.pending) == PURCHASES
    # WHEN the store writes it, THEN DynamoDB refuses the item (what settling avoids)
    with pytest.raises(ClientError) as refused:
        ReadModelStore(table).save(LOYALTY, USER, Stored(state, {USER: 2}, revision=1), 0)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_the_projector_keeps_a_frequent_buyers_item_small_on_dynamodb(table: Any) -> None:
    # GIVEN a member buying every ten seconds, each purchase projected a second after it is made
    store = ReadModelStore(table)
    history = list(heavy_buyer(150, timedelta(seconds=10)))[:151]
    user_events = [history[0][1]]
    # WHEN each record goes through the projector
    for at, record in history:
        clock = (lambda now: lambda: now)(at + timedelta(seconds=1))
        project_records([record], store, MODELS, lambda _: user_events, clock=clock)
    # THEN every purchase counts, and only about the last two minutes' purchases are pending
    stored = store.load(LOYALTY, USER)
    assert stored is not None and stored.state.points == 150 * 42
    assert len(stored.state.pending) < SETTLE_PENDING_AT + 12 + 2
    # AND each purchase's position is an item of its own, not in the user's item
    assert store.applied(LOYALTY, USER, "p-0") == 1
    assert dict(stored.positions) == {USER: 1}
