"""Emulator gap: moto's backends are not thread-safe, so the local stack serialises moto.

moto server answers on concurrent threads, and its Kinesis shard hands out
"the last sequence number + 1" without a lock; its SQS delete rebuilds a
queue's message list from the one it read, so two deletes at once can bring
one message back. These tests force the interleavings that threads hit by
chance. local_aws.moto_server serves moto one request at a time, and
tests/e2e/test_moto_paths_e2e.py shows that nothing is lost through it; tests
whose threads call moto in-process do the same
(tests.handler.helpers.moto_one_call_at_a_time).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.kinesis import models as kinesis_models
from moto.sqs import models as sqs_models

from local_aws.moto_server import SerializedApp
from tests.handler.helpers import moto_one_call_at_a_time


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


def _two_in_flight(session: boto3.session.Session) -> tuple[Any, str, list[str]]:
    """A queue whose two messages were received: (client, url, their receipt handles)."""
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="gap")["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert len(received) == 2
    return sqs, url, [m["ReceiptHandle"] for m in received]


def _delete_both_at_once(
    sqs: Any, url: str, handles: list[str], monkeypatch: pytest.MonkeyPatch
) -> int:
    """Delete each message from its own thread, both rebuilding the queue's list at once
    where moto lets them; the messages left in the queue."""
    both_rebuilding = threading.Barrier(2, timeout=1)
    mine = threading.local()
    original = sqs_models.Message.had_receipt_handle

    def rebuilding_together(self: Any, receipt_handle: str) -> bool:
        # The first look at a message after the one being deleted was found: this
        # thread is rebuilding the list; wait there for the other (if it can come).
        if getattr(mine, "found", False) and not getattr(mine, "waited", False):
            mine.waited = True
            with contextlib.suppress(threading.BrokenBarrierError):
                both_rebuilding.wait()
        found = bool(original(self, receipt_handle))
        mine.found = getattr(mine, "found", False) or found
        return found

    monkeypatch.setattr(sqs_models.Message, "had_receipt_handle", rebuilding_together)
    deleters = [
        threading.Thread(target=sqs.delete_message, kwargs={"QueueUrl": url, "ReceiptHandle": h})
        for h in handles
    ]
    for deleter in deleters:
        deleter.start()
    for deleter in deleters:
        deleter.join()
    monkeypatch.setattr(sqs_models.Message, "had_receipt_handle", original)
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_concurrent_sqs_deletes_in_moto_bring_a_message_back(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two messages in flight
    sqs, url, handles = _two_in_flight(session)
    # WHEN both are deleted at once, each thread rebuilding the queue's list from the old one
    left = _delete_both_at_once(sqs, url, handles, monkeypatch)
    # THEN both deletes succeeded, yet one message is back (in flight for its visibility
    # timeout): the last list written still held it
    assert left == 1


def test_moto_one_call_at_a_time_loses_no_delete(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN in-process moto answering one call at a time, and two messages in flight
    moto_one_call_at_a_time(monkeypatch)
    sqs, url, handles = _two_in_flight(session)
    # WHEN both are deleted from two threads (the second waits for the first's call)
    left = _delete_both_at_once(sqs, url, handles, monkeypatch)
    # THEN both are gone
    assert left == 0
