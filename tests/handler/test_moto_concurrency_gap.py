"""Emulator gap: moto's backends are not thread-safe, so the local stack serialises moto.

moto server answers on concurrent threads, and its Kinesis shard hands out
"the last sequence number + 1" without a lock. This test forces the
interleaving that threads hit by chance: two producers both acknowledged,
one record stored. local_aws.moto_server serves moto one request at a time,
and tests/e2e/test_moto_paths_e2e.py shows that nothing is lost through it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.kinesis import models as kinesis_models

from local_aws.moto_server import SerializedApp


@pytest.fixture
def stream(session: boto3.session.Session) -> Iterator[Any]:
    """GIVEN a one-shard Kinesis stream in moto."""
    client = session.client("kinesis")
    client.create_stream(StreamName="gap", ShardCount=1)
    yield client


def test_concurrent_put_records_in_moto_lose_one(
    stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two producers that both read the shard's last sequence number before either stores
    both_numbered = threading.Barrier(2, timeout=10)
    original = kinesis_models.Record.__init__

    def numbered_then_stored(self: Any, *args: Any, **kwargs: Any) -> None:
        both_numbered.wait()
        original(self, *args, **kwargs)

    monkeypatch.setattr(kinesis_models.Record, "__init__", numbered_then_stored)
    acknowledged: list[str] = []

    def produce(data: bytes) -> None:
        response = stream.put_record(StreamName="gap", Data=data, PartitionKey="p")
        acknowledged.append(response["SequenceNumber"])

    # WHEN they put their records at the same time
    producers = [threading.Thread(target=produce, args=(d,)) for d in (b"a", b"b")]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    monkeypatch.undo()
    shard = stream.list_shards(StreamName="gap")["Shards"][0]["ShardId"]
    iterator = stream.get_shard_iterator(
        StreamName="gap", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    stored = stream.get_records(ShardIterator=iterator)["Records"]
    # THEN both were acknowledged with the same sequence number and only one was kept
    assert len(acknowledged) == 2 and len(set(acknowledged)) == 1
    assert len(stored) == 1


def test_the_local_stack_runs_moto_one_request_at_a_time() -> None:
    # GIVEN moto's app behind SerializedApp, and a request that waits inside the app
    inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(f"start {environ['id']}")
        if environ["id"] == 1:
            inside.set()
            release.wait(10)
        calls.append(f"end {environ['id']}")
        return [b"ok"]

    app = SerializedApp(slow_app)

    def start_response(*_: Any) -> None:
        return None

    first = threading.Thread(target=lambda: app({"id": 1}, start_response))
    first.start()
    inside.wait(10)
    # WHEN a second request arrives while the first is inside
    second = threading.Thread(target=lambda: app({"id": 2}, start_response))
    second.start()
    second.join(0.2)
    release.set()
    first.join()
    second.join()
    # THEN the second ran only after the first had finished
    assert calls == ["start 1", "end 1", "start 2", "end 2"]
