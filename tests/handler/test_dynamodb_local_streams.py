"""The event-source runner on DynamoDB Local's streams API, as the local stack runs it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.app import Chalice

from local_aws.dynamodb_local import endpoint_environment
from local_aws.event_sources import EventSourceRunner
from local_aws.stack_process import wait_for

pytestmark = pytest.mark.slow

REGION = "eu-west-1"


@pytest.fixture
def ddb_session(dynamodb_local_url: str, monkeypatch: pytest.MonkeyPatch) -> boto3.session.Session:
    """GIVEN boto3 routed to DynamoDB Local by the stack's endpoint variables."""
    for name, value in endpoint_environment(dynamodb_local_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def ledger(ddb_session: boto3.session.Session) -> Iterator[tuple[str, str]]:
    """GIVEN a fresh ledger-shaped table with a NEW_IMAGE stream: (name, stream ARN)."""
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    table = ddb_session.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "aggregate_id", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "aggregate_id", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    yield name, table["LatestStreamArn"]
    ddb_session.client("dynamodb").delete_table(TableName=name)


def _put(session: boto3.session.Session, table: str, aggregate: str, version: int) -> None:
    session.client("dynamodb").put_item(
        TableName=table,
        Item={"aggregate_id": {"S": aggregate}, "version": {"N": str(version)}},
    )


def _relay_app(stream_arn: str, seen: list[tuple[str, int]], start: str) -> Chalice:
    app = Chalice("relay")
    lock = threading.Lock()

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=25, starting_position=start)
    def relay(event: Any) -> None:
        with lock:
            seen.extend(
                (r.new_image["aggregate_id"]["S"], int(r.new_image["version"]["N"])) for r in event
            )

    return app


def _runner(app: Chalice, session: boto3.session.Session, checkpoints: Path) -> EventSourceRunner:
    return EventSourceRunner(
        app,
        session,
        checkpoint_path=checkpoints,
        idle_poll_seconds=0.05,
        retry_backoff_seconds=0.01,
    )


def test_trim_horizon_then_checkpoint_resume_delivers_each_record_once(
    ddb_session: boto3.session.Session, ledger: tuple[str, str], tmp_path: Path
) -> None:
    # GIVEN two records written before the runner starts at TRIM_HORIZON
    table, stream_arn = ledger
    seen: list[tuple[str, int]] = []
    app = _relay_app(stream_arn, seen, "TRIM_HORIZON")
    for version in (1, 2):
        _put(ddb_session, table, "a", version)
    checkpoints = tmp_path / "checkpoints.json"
    # WHEN it runs, stops, more is written, and it runs again from its checkpoint
    with _runner(app, ddb_session, checkpoints) as runner:
        _put(ddb_session, table, "a", 3)
        wait_for(lambda: len(seen) >= 3, timeout=20)
        assert runner.wait_idle(10)
    _put(ddb_session, table, "a", 4)
    with _runner(app, ddb_session, checkpoints) as runner:
        wait_for(lambda: len(seen) >= 4, timeout=20)
        assert runner.wait_idle(10)
    # THEN every record came once, in order
    assert seen == [("a", 1), ("a", 2), ("a", 3), ("a", 4)]


def test_latest_delivers_only_what_is_written_after_start(
    ddb_session: boto3.session.Session, ledger: tuple[str, str], tmp_path: Path
) -> None:
    # GIVEN a record written before a LATEST runner starts
    table, stream_arn = ledger
    seen: list[tuple[str, int]] = []
    _put(ddb_session, table, "old", 1)
    # WHEN the runner starts and another record is written
    with _runner(_relay_app(stream_arn, seen, "LATEST"), ddb_session, tmp_path / "c.json") as r:
        _put(ddb_session, table, "new", 1)
        wait_for(lambda: seen, timeout=20)
        assert r.wait_idle(10)
    # THEN only the new one is delivered
    assert seen == [("new", 1)]


def test_racing_conditional_transactions_each_reach_the_stream_once(
    ddb_session: boto3.session.Session, ledger: tuple[str, str], tmp_path: Path
) -> None:
    # GIVEN a runner on the ledger stream, and 16 writers taking the next version of one
    # aggregate with 2-item conditional transactions (many of which fail on a conflict)
    table, stream_arn = ledger
    seen: list[tuple[str, int]] = []
    client = ddb_session.client("dynamodb")
    committed: list[int] = []
    lock = threading.Lock()

    def writer(_: int) -> None:
        for _attempt in range(40):
            with lock:
                version = len(committed) + 1
            item = {"aggregate_id": {"S": "hot"}, "version": {"N": str(version)}}
            marker = {"aggregate_id": {"S": f"marker-{uuid.uuid4()}"}, "version": {"N": "0"}}
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": table,
                                "Item": item,
                                "ConditionExpression": "attribute_not_exists(aggregate_id)",
                            }
                        },
                        {"Put": {"TableName": table, "Item": marker}},
                    ]
                )
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "TransactionCanceledException"
                continue
            with lock:
                committed.append(version)
            if len(committed) >= 60:
                return

    # WHEN they race while the runner relays
    with _runner(_relay_app(stream_arn, seen, "TRIM_HORIZON"), ddb_session, tmp_path / "c") as r:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(writer, range(16)))
        wait_for(lambda: len([s for s in seen if s[0] == "hot"]) >= len(committed), timeout=30)
        assert r.wait_idle(10)
    # THEN every acknowledged version is stored and relayed exactly once, with no gaps
    hot = [version for aggregate, version in seen if aggregate == "hot"]
    assert sorted(committed) == list(range(1, len(committed) + 1))
    assert hot == sorted(committed)
    markers = [a for a, _ in seen if a.startswith("marker-")]
    assert len(markers) == len(set(markers)) == len(committed)
