"""scripts/replay.py --workers N against moto: the archive's buckets folded apart, then merged."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
import orjson
import pytest
import replay as replay_script

from chalicelib.domain.events import (
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    PurchaseMade,
    UserCreated,
    new_event,
)
from chalicelib.settings import get_settings
from projections.archive_buckets import bucket_label, bucket_of

REGION: Final = "eu-west-1"
COUNT: Final = 4  # buckets of the archive under test
T0 = datetime(2026, 3, 1, tzinfo=UTC)
PROJECTIONS = ("accounts", "loyalty", "statements")


@pytest.fixture
def aws(session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("NAME_PREFIX", "t")
    monkeypatch.setenv("EARLY_ADOPTER_COUNT", "3")
    get_settings.cache_clear()
    settings = get_settings()
    s3 = session.client("s3")
    s3.create_bucket(
        Bucket=settings.archive_bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    session.resource("dynamodb").create_table(
        TableName=settings.table("read_models"),
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield s3, settings.archive_bucket
    get_settings.cache_clear()


def history(seed: int = 11) -> list[Any]:
    """Users, their accounts and purchases (each purchase its own aggregate), in time order."""
    rng = random.Random(seed)
    events: list[Any] = []
    when = T0
    for n in range(12):
        user, account = f"user-{n}", f"acc-{n}"
        created = UserCreated(
            user_id=user,
            name="A",
            lastname="B",
            email=f"{user}@example.com",
            address="x",
            loyalty=n % 2 == 0,
        )
        events.append(new_event(created, subject=user, version=1, time=when))
        opened = AccountOpened(account_id=account, owner_id=user, currency="EUR")
        events.append(new_event(opened, subject=account, version=1, time=when))
        balance = 0
        for version in range(2, 2 + rng.randrange(3, 9)):
            when += timedelta(days=rng.randrange(0, 20), minutes=7)
            cents = rng.randrange(100, 90_000)
            if balance >= cents and rng.random() < 0.4:
                balance -= cents
                data: Any = AccountWithdrawn(account_id=account, amount=f"{cents / 100:.2f}")
            else:
                balance += cents
                data = AccountDeposited(account_id=account, amount=f"{cents / 100:.2f}")
            events.append(new_event(data, subject=account, version=version, time=when))
        for order in range(rng.randrange(1, 4)):
            bought = PurchaseMade(
                user_id=user, order_id=f"o-{n}-{order}", amount="120.75", currency="EUR"
            )
            # Purchase subjects hash into other buckets than their user's, often.
            events.append(new_event(bought, subject=f"p-{n}-{order}", version=1, time=when))
    events.sort(key=lambda e: e.time)
    return events


def put_mixed_archive(s3: Any, bucket: str, events: list[Any]) -> None:
    """Half the events unbucketed, the rest in buckets, with repeats and a poison line."""
    half = len(events) // 2
    legacy, bucketed = events[:half], events[half:]
    lines = [e.to_json() for e in legacy]
    s3.put_object(
        Bucket=bucket,
        Key="events/year=2026/month=03/day=01/legacy-a",
        Body=b"\n".join([*lines[: half // 2], b"not json"]) + b"\n",
    )
    # A repeat across layouts: delivered again after the switch, now bucketed.
    s3.put_object(
        Bucket=bucket,
        Key="events/year=2026/month=03/day=02/legacy-b",
        Body=b"\n".join(lines[half // 2 :]) + b"\n",
    )
    by_bucket: dict[int, list[bytes]] = {}
    for event in [legacy[-1], *bucketed]:
        by_bucket.setdefault(bucket_of(event.subject, COUNT), []).append(event.to_json())
    for number, lines_of in by_bucket.items():
        label = bucket_label(number, COUNT)
        middle = len(lines_of) // 2
        for part, chunk in enumerate((lines_of[:middle], lines_of[middle - 1 :])):
            s3.put_object(
                Bucket=bucket,
                Key=f"events/buckets={COUNT}/bucket={label}/year=2026/month=04/day=0{part + 1}/o",
                Body=b"\n".join(chunk) + b"\n",
            )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert replay_script.main(list(argv)) == 0
    return orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])


def items(table: str) -> list[dict[str, Any]]:
    found = boto3.resource("dynamodb", region_name=REGION).Table(table).scan()["Items"]
    return sorted(found, key=lambda item: str(item["pk"]))


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_workers_give_the_state_of_one_process(
    aws: Any, capsys: pytest.CaptureFixture[str], projection: str
) -> None:
    # GIVEN an archive with unbucketed and bucketed objects mixed, repeats and a poison line
    s3, bucket = aws
    put_mixed_archive(s3, bucket, history())
    # WHEN the projection is replayed by one process and by three workers, into two tables
    one = run(capsys, "--projection", projection, "--table", f"one-{projection}")
    three = run(
        capsys, "--projection", projection, "--table", f"three-{projection}", "--workers", "3"
    )
    # THEN the read models are item for item the same, and so are the counts
    assert items(f"one-{projection}") == items(f"three-{projection}")
    assert len(items(f"one-{projection}")) > 5
    varying = {"seconds", "events_per_s", "workers", "table"}
    assert {k: v for k, v in one.items() if k not in varying} == {
        k: v for k, v in three.items() if k not in varying
    }
    assert one["duplicates_skipped"] >= 1 and one["invalid_lines"] == 1
    assert (one["workers"], three["workers"]) == (1, 3)


def test_workers_refuse_a_source_they_cannot_split(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN --workers is asked of the ledger
    with pytest.raises(SystemExit) as exit_info:
        replay_script.main(["--projection", "accounts", "--source", "ledger", "--workers", "2"])
    # THEN it is a usage error, nothing ran
    assert exit_info.value.code == 2
    assert "--workers splits the archive" in capsys.readouterr().err
