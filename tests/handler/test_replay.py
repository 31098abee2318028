"""The archive reader and scripts/replay.py against moto (S3 + DynamoDB)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
import orjson
import pytest
import replay as replay_script

from chalicelib.adapters.archive import ArchiveReader
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.domain.events import (
    AccountDeposited,
    AccountOpened,
    LoyaltyLeft,
    PurchaseMade,
    UserCreated,
    new_event,
)
from chalicelib.settings import get_settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)
REGION: Final = "eu-west-1"


@pytest.fixture
def aws(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    for name, value in {"NAME_PREFIX": "t", "EARLY_ADOPTER_COUNT": "1"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    dynamodb = session.resource("dynamodb")
    tables = {}
    for key, hash_key, range_key in (
        ("read_models", "pk", None),
        ("ledger", "aggregate_id", "version"),
    ):
        schema: list[Any] = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        attrs: list[Any] = [{"AttributeName": hash_key, "AttributeType": "S"}]
        if range_key:
            schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
            attrs.append({"AttributeName": range_key, "AttributeType": "N"})
        tables[key] = dynamodb.create_table(
            TableName=settings.table(key),
            KeySchema=schema,
            AttributeDefinitions=attrs,
            BillingMode="PAY_PER_REQUEST",
        )
    s3 = session.client("s3")
    s3.create_bucket(
        Bucket=settings.archive_bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    yield {"s3": s3, "bucket": settings.archive_bucket, **tables}
    get_settings.cache_clear()


def history() -> list[Any]:
    acc = "acc-1"
    user = UserCreated(user_id="u1", name="A", lastname="B", email="a@example.com", address="x")
    late = UserCreated(
        user_id="u2", name="C", lastname="D", email="c@example.com", address="y", loyalty=True
    )
    return [
        new_event(user, subject="u1", version=1, time=T0),
        new_event(late, subject="u2", version=1, time=T0 + timedelta(days=1)),
        new_event(
            AccountOpened(account_id=acc, owner_id="u1", currency="EUR"),
            subject=acc,
            version=1,
            time=T0,
        ),
        new_event(
            AccountDeposited(account_id=acc, amount="40.00"),
            subject=acc,
            version=2,
            time=T0 + timedelta(hours=1),
        ),
        new_event(
            AccountDeposited(account_id=acc, amount="2.50"),
            subject=acc,
            version=3,
            time=T0 + timedelta(days=1, hours=1),
        ),
        new_event(
            PurchaseMade(user_id="u2", order_id="o1", amount="120.75", currency="EUR"),
            subject="purchases-u2",
            version=1,
            time=T0 + timedelta(days=1, hours=2),
        ),
    ]


def put_archive(aws: dict[str, Any], events: list[Any]) -> None:
    # Two objects on two days; the second repeats an event (at-least-once) and is gzipped.
    first = b"\n".join(e.to_json() for e in events[:4]) + b"\n"
    second = b"\n".join(e.to_json() for e in [events[3], *events[4:]]) + b"\n"
    aws["s3"].put_object(Bucket=aws["bucket"], Key="events/year=2026/month=03/day=01/a", Body=first)
    aws["s3"].put_object(
        Bucket=aws["bucket"], Key="events/year=2026/month=03/day=02/b", Body=gzip.compress(second)
    )
    aws["s3"].put_object(Bucket=aws["bucket"], Key="errors/x", Body=b"ignored")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert replay_script.main(list(argv)) == 0
    return orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_archive_reader_lists_in_date_order_and_yields_lines(aws: dict[str, Any]) -> None:
    events = history()
    put_archive(aws, events)
    reader = ArchiveReader(aws["s3"], aws["bucket"])
    assert [o.key for o in reader.objects()] == [
        "events/year=2026/month=03/day=01/a",
        "events/year=2026/month=03/day=02/b",
    ]
    lines = list(reader.lines())
    assert len(lines) == 7  # one duplicate included: the reader does not deduplicate
    assert orjson.loads(lines[-1])["id"] == events[-1].id


def test_replay_accounts_from_archive_writes_the_read_model(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an archive with a duplicate delivery
    put_archive(aws, history())
    # WHEN the accounts projection is rebuilt
    summary = run(capsys, "--projection", "accounts")
    # THEN the summary counts what was read and the read model has the balance
    assert summary["projection"] == "accounts" and summary["source"] == "archive"
    assert summary["events_read"] == 7
    assert summary["duplicates_skipped"] == 1
    assert summary["aggregates"] == 1
    assert set(summary) >= {"seconds", "events_per_s"}
    account = ReadModelStore(aws["read_models"]).state(read_model("accounts"), "acc-1")
    assert account is not None and account.to_dict()["balance"] == "42.50"


def test_replay_until_from_the_ledger_into_another_table(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the events in the ledger only, and an empty table for the rebuild
    ledger = EventLedger(aws["ledger"])
    for event in history():
        ledger.append([event])
    other = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="as-of",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # WHEN rebuilt as of the end of the first day
    summary = run(
        capsys,
        "--projection",
        "accounts",
        "--source",
        "ledger",
        "--until",
        "2026-03-01T23:59:59Z",
        "--table",
        "as-of",
    )
    # THEN only that day's events count
    assert summary["after_until"] == 3
    account = ReadModelStore(other).state(read_model("accounts"), "acc-1")
    assert account is not None and (account.to_dict()["balance"], account.version) == ("40.00", 2)


def test_replay_loyalty_rewards_history_and_the_early_adopter(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN users and purchases that happened before the loyalty program existed
    put_archive(aws, history())
    # WHEN the loyalty projection is built (EARLY_ADOPTER_COUNT=1)
    summary = run(capsys, "--projection", "loyalty")
    # THEN the first registered user gets the bonus, the buyer gets points
    store = ReadModelStore(aws["read_models"])
    assert summary["aggregates"] == 2
    loyalty = read_model("loyalty")
    assert store.state(loyalty, "u1").to_dict() == {  # type: ignore[union-attr]
        "user_id": "u1",
        "enrolled": False,
        "points": 500,
        "tier": "silver",
    }
    assert store.state(loyalty, "u2").to_dict() == {  # type: ignore[union-attr]
        "user_id": "u2",
        "enrolled": True,
        "points": 120,
        "tier": "bronze",
    }


def test_replay_skips_and_counts_poison_lines_in_the_archive(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an archive object holding a poison record between two valid events
    opened = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/accounts",
        "type": "com.example.account.opened",
        "time": "2026-11-27T10:00:00.000000Z",
        "subject": "a-1",
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": {"account_id": "a-1", "owner_id": "u-1", "currency": "EUR"},
    }
    deposited = {
        **opened,
        "id": "e2",
        "type": "com.example.account.deposited",
        "aggregateversion": 2,
        "data": {"account_id": "a-1", "amount": "5.00"},
    }
    body = json.dumps(opened) + "\n{poison\n" + json.dumps(deposited) + "\n"
    boto3.client("s3").put_object(
        Bucket=aws_env["ARCHIVE_BUCKET"],
        Key="events/year=2026/month=11/day=27/x",
        Body=body.encode(),
    )
    # WHEN the accounts projection is replayed from the archive
    code = replay_script.main(["--projection", "accounts", "--source", "archive", "--dry-run"])
    # THEN it succeeds, counting the poison line
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (code, summary["events_read"], summary["invalid_lines"]) == (0, 2, 1)


def _heavy_buyer(purchases: int) -> list[Any]:
    """A member (u3) and ``purchases`` purchases, one an hour from T0."""
    member = UserCreated(
        user_id="u3", name="E", lastname="F", email="e@example.com", address="z", loyalty=True
    )
    return [new_event(member, subject="u3", version=1, time=T0)] + [
        new_event(
            PurchaseMade(user_id="u3", order_id=f"o{n}", amount="10.00", currency="EUR"),
            subject=f"purchase-u3-{n}",
            version=1,
            time=T0 + timedelta(hours=n + 1),
        )
        for n in range(purchases)
    ]


def test_replay_from_the_archive_settles_a_heavy_buyer_at_the_ledgers_watermark(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a member's 40 purchases in the archive, and in the ledger only the registration
    events = _heavy_buyer(40)
    body = b"\n".join(e.to_json() for e in events) + b"\n"
    aws["s3"].put_object(Bucket=aws["bucket"], Key="events/year=2026/month=03/day=01/h", Body=body)
    EventLedger(aws["ledger"]).append(events[:1])
    # WHEN the loyalty projection is rebuilt from the archive
    run(capsys, "--projection", "loyalty")
    # THEN every purchase counts and none is left pending (no user event can still come before)
    store = ReadModelStore(aws["read_models"])
    stored = store.load(read_model("loyalty"), "u3")
    assert stored is not None and stored.state.purchase_points == 400
    assert stored.state.pending == ()
    # AND the item keeps the user's position, each purchase has its own
    assert dict(stored.positions) == {"u3": 1} and stored.version == 41
    assert store.applied(read_model("loyalty"), "u3", "purchase-u3-39") == 1


def test_replay_from_the_archive_leaves_pending_what_a_missing_user_event_may_change(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the same archive, while the ledger also holds the member's leaving (hour 30),
    # which the archive does not have yet
    events = _heavy_buyer(40)
    body = b"\n".join(e.to_json() for e in events) + b"\n"
    aws["s3"].put_object(Bucket=aws["bucket"], Key="events/year=2026/month=03/day=01/h", Body=body)
    left = new_event(
        LoyaltyLeft(user_id="u3"), subject="u3", version=2, time=T0 + timedelta(hours=30)
    )
    EventLedger(aws["ledger"]).append(events[:1])
    EventLedger(aws["ledger"]).append([left])
    # WHEN the loyalty projection is rebuilt from the archive
    run(capsys, "--projection", "loyalty")
    # THEN the purchases from hour 30 on stay pending (the leaving will settle them)
    stored = ReadModelStore(aws["read_models"]).load(read_model("loyalty"), "u3")
    assert stored is not None
    assert [time[11:13] for time, _ in stored.state.pending][:1] == ["06"]  # hour 30 = day 2, 06h
    assert len(stored.state.pending) == 11
