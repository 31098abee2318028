"""The local event-source runner drives Chalice handlers like Lambda mappings would."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from chalice.app import Chalice

from chalicelib.resources import KinesisRetrySpec
from local_aws.event_sources import EventSourceRunner, make_client_factory
from tests.handler.helpers import moto_one_call_at_a_time

REGION = "eu-west-1"
FAST_RETRY = KinesisRetrySpec(maximum_retry_attempts=1, bisect_batch_on_function_error=True)


@pytest.fixture(autouse=True)
def _moto_as_the_local_stack_serves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner's pollers and invocations call moto from many threads; unserialised,
    # two SQS deletes at once can bring a message back for its visibility timeout
    # (tests/handler/test_moto_concurrency_gap.py), which once timed out
    # test_sqs_maximum_concurrency_is_never_exceeded under load.
    moto_one_call_at_a_time(monkeypatch)


def _queue(
    sqs: Any, name: str, visibility: int = 30, max_receive: int | None = None
) -> tuple[str, str | None]:
    attrs = {"VisibilityTimeout": str(visibility)}
    dlq_url = None
    if max_receive is not None:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}
        )
    return sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"], dlq_url


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        messages += batch
    return messages


def _runner(app: Chalice, session: boto3.session.Session, **kwargs: Any) -> EventSourceRunner:
    kwargs.setdefault("idle_poll_seconds", 0.05)
    kwargs.setdefault("retry_backoff_seconds", 0.01)
    return EventSourceRunner(app, session, **kwargs)


class _Clock:
    """The runner's monotonic clock, which a test can move forward."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.ahead


def _on_call(
    session: boto3.session.Session,
    service: str,
    operation: str,
    key: str,
    *,
    with_items: bool,
    seen: threading.Event,
) -> Any:
    """A runner client factory over ``session`` that sets ``seen`` once an ``operation``
    call of ``service`` answered with items under ``key`` (or, ``with_items=False``, none)."""
    factory = make_client_factory(session)

    def after(parsed: dict[str, Any], **_: Any) -> None:
        if bool(parsed.get(key)) == with_items:
            seen.set()

    factory(service).meta.events.register(f"after-call.{service}.{operation}", after)
    return factory


def _wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --- SQS ----------------------------------------------------------------------------


def test_sqs_batches_are_at_most_batch_size_and_succeeded_batches_are_deleted(
    session: boto3.session.Session,
) -> None:
    # GIVEN 7 messages waiting and a handler with batch size 3
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q")
    for i in range(7):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    app = Chalice("t")
    batches: list[list[str]] = []

    @app.on_sqs_message(
        queue="q", batch_size=3, maximum_batching_window_in_seconds=1, maximum_concurrency=2
    )
    def handle(event: Any) -> None:
        batches.append([record.body for record in event])

    # WHEN the runner runs until idle
    with _runner(app, session) as runner:
        assert runner.wait_idle(10)

    # THEN every message was delivered once, in batches of at most 3, and deleted
    assert sorted(b for batch in batches for b in batch) == [f"m{i}" for i in range(7)]
    assert max(len(batch) for batch in batches) == 3
    assert all(len(batch) <= 3 for batch in batches)
    assert _drain(sqs, url) == []
    assert runner.stats()["handle"]["records_processed"] == 7


def test_sqs_event_is_lambda_shaped(session: boto3.session.Session) -> None:
    # GIVEN a message with a message attribute
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q")
    sqs.send_message(
        QueueUrl=url,
        MessageBody='{"a": 1}',
        MessageAttributes={"type": {"DataType": "String", "StringValue": "x.created"}},
    )
    app = Chalice("t")
    events: list[dict[str, Any]] = []

    @app.on_sqs_message(queue="q", batch_size=1)
    def handle(event: Any) -> None:
        events.append(event.to_dict())

    # WHEN it is delivered
    with _runner(app, session) as runner:
        assert runner.wait_idle(10)

    # THEN the record has the fields of a real SQS event
    (record,) = events[0]["Records"]
    assert record["body"] == '{"a": 1}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":q")
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["type"]["stringValue"] == "x.created"
    assert record["messageAttributes"]["type"]["dataType"] == "String"
    assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]


@pytest.mark.slow
def test_sqs_failing_message_is_redelivered_then_moved_to_the_dlq(
    session: boto3.session.Session,
) -> None:
    # GIVEN a queue (visibility 1 s, maxReceiveCount 2) and a handler that always fails
    sqs = session.client("sqs")
    url, dlq_url = _queue(sqs, "q", visibility=1, max_receive=2)
    assert dlq_url is not None
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    app = Chalice("t")
    receive_counts: list[str] = []

    @app.on_sqs_message(queue="q", batch_size=1)
    def handle(event: Any) -> None:
        for record in event:
            receive_counts.append(record.to_dict()["attributes"]["ApproximateReceiveCount"])
        raise RuntimeError("boom")

    dead: list[dict[str, Any]] = []

    def dead_lettered() -> bool:
        dead.extend(_drain(sqs, dlq_url))
        return bool(dead)

    # WHEN the runner polls until the message is dead-lettered (SQS moves it on the
    # receive after the last allowed one, so the runner must still be polling then)
    with _runner(app, session) as runner:
        assert _wait_for(dead_lettered, timeout=20)

    # THEN it was tried exactly maxReceiveCount times, then landed in the DLQ
    assert receive_counts == ["1", "2"]
    assert [m["Body"] for m in dead] == ["poison"]
    assert runner.stats()["handle"]["failures"] == 2


def test_sqs_batch_item_failures_keep_only_the_failed_messages(
    session: boto3.session.Session,
) -> None:
    # GIVEN three messages and a handler reporting the second one as failed (first time only)
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q", visibility=1)
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    app = Chalice("t")
    seen: list[str] = []

    @app.on_sqs_message(queue="q", batch_size=3)
    def handle(event: Any) -> dict[str, Any]:
        failures = []
        for record in event:
            raw = record.to_dict()
            seen.append(record.body)
            if record.body == "b" and raw["attributes"]["ApproximateReceiveCount"] == "1":
                failures.append({"itemIdentifier": raw["messageId"]})
        return {"batchItemFailures": failures}

    # WHEN the runner runs until idle
    with _runner(app, session) as runner:
        assert runner.wait_idle(10)

    # THEN only "b" came back, and nothing is left
    assert sorted(seen) == ["a", "b", "b", "c"]
    assert _drain(sqs, url) == []


def test_sqs_batch_item_failures_are_ignored_without_the_response_type(
    session: boto3.session.Session,
) -> None:
    # GIVEN a mapping without ReportBatchItemFailures, and a handler always reporting "b"
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q", visibility=1)
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    app = Chalice("t")
    seen: list[str] = []

    @app.on_sqs_message(queue="q", batch_size=3)
    def handle(event: Any) -> dict[str, Any]:
        seen.extend(record.body for record in event)
        return {
            "batchItemFailures": [
                {"itemIdentifier": r.to_dict()["messageId"]} for r in event if r.body == "b"
            ]
        }

    # WHEN the runner runs until idle
    with _runner(app, session, sqs_function_response_types=()) as runner:
        assert runner.wait_idle(10)

    # THEN, as in AWS, the normal return deleted the whole batch: "b" never came back
    assert sorted(seen) == ["a", "b", "c"]
    assert _drain(sqs, url) == []


def test_sqs_batch_item_failures_naming_a_stranger_fail_the_whole_batch(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler whose first answer names a message id that is not in its batch
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q", visibility=1)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    app = Chalice("t")
    batches: list[list[str]] = []

    @app.on_sqs_message(queue="q", batch_size=2)
    def handle(event: Any) -> dict[str, Any]:
        batches.append([record.body for record in event])
        if len(batches) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return {"batchItemFailures": []}

    # WHEN the runner runs until idle
    with _runner(app, session) as runner:
        assert runner.wait_idle(10)

    # THEN the invalid answer failed the first batch whole: each of its messages came
    # back once, beside the messages it did not hold
    first, *later = batches
    rest = [body for body in ("a", "b") if body not in first]
    assert sorted(body for batch in later for body in batch) == sorted(first + rest)
    assert _drain(sqs, url) == []


def test_sqs_handler_deleting_its_own_messages_does_not_break_the_runner(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler that deletes its messages itself (as the platform's once did)
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q")
    app = Chalice("t")
    seen: list[str] = []

    @app.on_sqs_message(queue="q", batch_size=2)
    def handle(event: Any) -> None:
        for record in event:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record.receipt_handle)
            seen.append(record.body)

    # WHEN messages arrive before and after a batch
    with _runner(app, session) as runner:
        sqs.send_message(QueueUrl=url, MessageBody="first")
        assert _wait_for(lambda: seen == ["first"])
        sqs.send_message(QueueUrl=url, MessageBody="second")
        assert runner.wait_idle(10)

    # THEN both were processed once
    assert seen == ["first", "second"]


def test_sqs_maximum_concurrency_is_never_exceeded(session: boto3.session.Session) -> None:
    # GIVEN a slow handler with batch size 1 and maximum concurrency 2
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q")
    for i in range(8):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    app = Chalice("t")
    lock = threading.Lock()
    current = 0
    peak = 0
    done: list[str] = []

    @app.on_sqs_message(queue="q", batch_size=1, maximum_concurrency=2)
    def handle(event: Any) -> None:
        nonlocal current, peak
        with lock:
            current += 1
            peak = max(peak, current)
        time.sleep(0.15)
        with lock:
            current -= 1
            done.extend(r.body for r in event)

    # WHEN all are processed
    with _runner(app, session) as runner:
        assert runner.wait_idle(10)

    # THEN two ran in parallel, never more
    assert sorted(done, key=int) == [str(i) for i in range(8)]
    assert peak == 2
    assert runner.stats()["handle"]["max_concurrency_seen"] == 2


def _in_flight(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_sqs_batching_window_begins_when_the_previous_invocation_completes(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler with batch size 3 and a 300 s batching window, on a runner just started
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "q")
    app = Chalice("t")
    batches: list[list[str]] = []

    @app.on_sqs_message(queue="q", batch_size=3, maximum_batching_window_in_seconds=300)
    def handle(event: Any) -> None:
        batches.append(sorted(record.body for record in event))

    clock = _Clock()
    with _runner(app, session, clock=clock) as runner:
        # WHEN a message arrives within the first window (it began when polling began), is
        # received, and two more follow
        sqs.send_message(QueueUrl=url, MessageBody="a")
        assert _wait_for(lambda: _in_flight(sqs, url) == 1)
        sqs.send_message(QueueUrl=url, MessageBody="b")
        sqs.send_message(QueueUrl=url, MessageBody="c")

        # THEN the window held the first until the batch was full: one batch of three
        assert _wait_for(lambda: len(batches) == 1)
        assert batches == [["a", "b", "c"]]

        # AND WHEN the window that began when that batch was handed over has passed, and
        # a message reaches the idle queue
        clock.ahead = 300.0
        sqs.send_message(QueueUrl=url, MessageBody="d")

        # THEN it is handed over alone at once, not held for another window
        assert runner.wait_idle(10)
    assert batches == [["a", "b", "c"], ["d"]]


def test_a_handler_run_wakes_idle_pollers_so_what_it_wrote_is_taken_at_once(
    session: boto3.session.Session,
) -> None:
    # GIVEN a stream handler that forwards each record to a queue, once the queue's poller
    # has found it empty and gone idle, and a handler on that queue; idle pollers sleep an hour
    sqs = session.client("sqs")
    url, _ = _queue(sqs, "out")
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    kinesis.put_record(StreamName="s", Data=b"hello", PartitionKey="k")
    queue_polled = threading.Event()
    app = Chalice("t")
    landed: list[str] = []

    @app.on_kinesis_record(stream="s", starting_position="TRIM_HORIZON")
    def forward(event: Any) -> None:
        assert queue_polled.wait(10)
        for record in event:
            sqs.send_message(QueueUrl=url, MessageBody=record.data.decode())

    @app.on_sqs_message(queue="out", batch_size=1)
    def land(event: Any) -> None:
        landed.extend(record.body for record in event)

    factory = _on_call(
        session, "sqs", "ReceiveMessage", "Messages", with_items=False, seen=queue_polled
    )

    # WHEN the runner runs (no wait_idle: it wakes every poller itself)
    with _runner(app, session, client_factory=factory, idle_poll_seconds=3600):
        # THEN the forwarded message reaches the queue's handler without the hour's pause
        assert _wait_for(lambda: landed == ["hello"], timeout=10)


# --- Kinesis ------------------------------------------------------------------------


def test_stream_batching_window_begins_when_the_previous_invocation_completes(
    session: boto3.session.Session,
) -> None:
    # GIVEN a stream handler with batch size 3 and a 300 s batching window, on a runner
    # just started
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    app = Chalice("t")
    batches: list[list[str]] = []

    @app.on_kinesis_record(
        stream="s",
        batch_size=3,
        maximum_batching_window_in_seconds=300,
        starting_position="TRIM_HORIZON",
    )
    def handle(event: Any) -> None:
        batches.append([record.data.decode() for record in event])

    read = threading.Event()
    factory = _on_call(session, "kinesis", "GetRecords", "Records", with_items=True, seen=read)
    clock = _Clock()
    with _runner(app, session, client_factory=factory, clock=clock) as runner:
        # WHEN a record arrives within the first window, is read, and two more follow
        kinesis.put_record(StreamName="s", Data=b"a", PartitionKey="k")
        assert read.wait(10)
        kinesis.put_record(StreamName="s", Data=b"b", PartitionKey="k")
        kinesis.put_record(StreamName="s", Data=b"c", PartitionKey="k")

        # THEN the window held the first until the batch was full: one batch of three
        assert _wait_for(lambda: len(batches) == 1)
        assert batches == [["a", "b", "c"]]

        # AND WHEN (the batch checkpointed) the window that began when its invocation
        # completed has passed, and a record arrives
        assert _wait_for(runner.checkpoints_snapshot)
        clock.ahead = 300.0
        kinesis.put_record(StreamName="s", Data=b"d", PartitionKey="k")

        # THEN it is handed over alone at once
        assert runner.wait_idle(10)
    assert batches == [["a", "b", "c"], ["d"]]


def _kinesis_records(event: Any) -> list[tuple[str, str, bytes]]:
    return [(r.to_dict()["eventID"].split(":")[0], r.sequence_number, r.data) for r in event]


def test_kinesis_shards_are_processed_in_order_and_checkpointed(
    session: boto3.session.Session, tmp_path: Any
) -> None:
    # GIVEN a 2-shard stream with 40 records over several partition keys
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=2)
    for i in range(40):
        kinesis.put_record(StreamName="s", Data=f"r{i}\n".encode(), PartitionKey=f"k{i % 7}")
    app = Chalice("t")
    seen: list[tuple[str, str, bytes]] = []

    @app.on_kinesis_record(stream="s", batch_size=5, starting_position="TRIM_HORIZON")
    def handle(event: Any) -> None:
        seen.extend(_kinesis_records(event))

    checkpoint_file = tmp_path / "checkpoints.json"

    # WHEN the runner runs until idle
    with _runner(app, session, checkpoint_path=checkpoint_file) as runner:
        assert runner.wait_idle(10)

    # THEN each record arrived once, each shard in sequence order, and both are checkpointed
    assert sorted(d for _, _, d in seen) == sorted(f"r{i}\n".encode() for i in range(40))
    shards = {shard for shard, _, _ in seen}
    assert len(shards) == 2
    for shard in shards:
        seqs = [int(seq) for s, seq, _ in seen if s == shard]
        assert seqs == sorted(seqs)
    saved = json.loads(checkpoint_file.read_text())
    assert sorted(saved.values(), key=int) == sorted(
        (str(max(int(seq) for s, seq, _ in seen if s == shard)) for shard in shards), key=int
    )
    assert runner.stats()["handle"]["invocations"] >= 8  # batches of at most 5

    # AND WHEN a new runner starts from the same checkpoint file after one more record
    kinesis.put_record(StreamName="s", Data=b"late\n", PartitionKey="k1")
    seen.clear()
    with _runner(app, session, checkpoint_path=checkpoint_file) as runner:
        assert runner.wait_idle(10)

    # THEN only the new record is delivered
    assert [d for _, _, d in seen] == [b"late\n"]


def test_kinesis_latest_only_delivers_records_written_after_start(
    session: boto3.session.Session,
) -> None:
    # GIVEN a stream with an old record and a LATEST consumer
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    kinesis.put_record(StreamName="s", Data=b"old", PartitionKey="k")
    app = Chalice("t")
    seen: list[bytes] = []

    @app.on_kinesis_record(stream="s", starting_position="LATEST")
    def handle(event: Any) -> None:
        seen.extend(r.data for r in event)

    # WHEN a record is written after the runner started
    with _runner(app, session) as runner:
        kinesis.put_record(StreamName="s", Data=b"new", PartitionKey="k")
        assert _wait_for(lambda: seen)
        assert runner.wait_idle(10)

    # THEN only that one is delivered
    assert seen == [b"new"]


def test_kinesis_event_is_lambda_shaped(session: boto3.session.Session) -> None:
    # GIVEN a record on a stream
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    kinesis.put_record(StreamName="s", Data=b'{"x":1}\n', PartitionKey="agg-1")
    app = Chalice("t")
    events: list[dict[str, Any]] = []

    @app.on_kinesis_record(stream="s", starting_position="TRIM_HORIZON")
    def handle(event: Any) -> None:
        events.append(event.to_dict())
        assert [r.data for r in event] == [b'{"x":1}\n']  # Chalice can parse it

    # WHEN it is delivered
    with _runner(app, session) as runner:
        assert runner.wait_idle(10)

    # THEN it carries the Kinesis event fields
    (record,) = events[0]["Records"]
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventName"] == "aws:kinesis:record"
    assert record["eventSourceARN"].endswith(":stream/s")
    assert record["eventID"] == f"shardId-000000000000:{record['kinesis']['sequenceNumber']}"
    assert record["kinesis"]["partitionKey"] == "agg-1"
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
    assert runner.stats()["handle"]["failures"] == 0


def test_kinesis_poison_record_goes_to_failure_queue_and_the_shard_moves_on(
    session: boto3.session.Session,
) -> None:
    # GIVEN a stream a, b, poison, c, d and a handler failing whenever it sees "poison"
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    for data in (b"a", b"b", b"poison", b"c", b"d"):
        kinesis.put_record(StreamName="s", Data=data, PartitionKey="k")
    sqs = session.client("sqs")
    failure_url, _ = _queue(sqs, "stream-failures")
    app = Chalice("t")
    succeeded: list[bytes] = []

    @app.on_kinesis_record(stream="s", batch_size=10, starting_position="TRIM_HORIZON")
    def handle(event: Any) -> None:
        data = [r.data for r in event]
        if b"poison" in data:
            raise ValueError("cannot handle poison")
        succeeded.extend(data)

    # WHEN the runner gives up on the poison record (1 retry, then bisect)
    with _runner(app, session, failure_queue_url=failure_url, retry=FAST_RETRY) as runner:
        assert runner.wait_idle(10)

    # THEN the records after it were processed, in order
    assert [d for d in succeeded if d in (b"c", b"d")] == [b"c", b"d"]
    assert set(succeeded) == {b"a", b"b", b"c", b"d"}
    # AND the failure queue holds one Lambda-style on-failure record for the poison record
    (message,) = _drain(sqs, failure_url)
    body = json.loads(message["Body"])
    info = body["KinesisBatchInfo"]
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == "3"
    assert info["shardId"] == "shardId-000000000000"
    assert info["streamArn"].endswith(":stream/s")
    assert [r["kinesis"]["sequenceNumber"] for r in body["records"]] == ["3"]
    assert runner.stats()["handle"]["records_to_failure_destination"] == 1


def test_kinesis_failing_batch_without_bisect_is_retried_then_sent_whole(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler failing every time and retry settings without bisection
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    for data in (b"a", b"b"):
        kinesis.put_record(StreamName="s", Data=data, PartitionKey="k")
    sqs = session.client("sqs")
    failure_url, _ = _queue(sqs, "stream-failures")
    app = Chalice("t")
    attempts: list[int] = []

    @app.on_kinesis_record(stream="s", batch_size=10, starting_position="TRIM_HORIZON")
    def handle(event: Any) -> None:
        attempts.append(len(list(event)))
        raise RuntimeError("down")

    retry = KinesisRetrySpec(maximum_retry_attempts=2, bisect_batch_on_function_error=False)

    # WHEN it runs until idle
    with _runner(app, session, failure_queue_url=failure_url, retry=retry) as runner:
        assert runner.wait_idle(10)

    # THEN the batch was tried 1 + 2 times and sent to the failure queue as one batch
    assert attempts == [2, 2, 2]
    (message,) = _drain(sqs, failure_url)
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        "1",
        "2",
        2,
    )


# --- DynamoDB streams ---------------------------------------------------------------


def _table_with_stream(session: boto3.session.Session) -> str:
    ddb = session.client("dynamodb")
    table = ddb.create_table(
        TableName="ledger",
        KeySchema=[
            {"AttributeName": "aggregate_id", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "aggregate_id", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    return str(table["TableDescription"]["LatestStreamArn"])


def test_dynamodb_insert_reaches_the_handler_with_its_new_image(
    session: boto3.session.Session,
) -> None:
    # GIVEN a ledger table with a NEW_IMAGE stream and a LATEST handler on it
    stream_arn = _table_with_stream(session)
    app = Chalice("t")
    records: list[dict[str, Any]] = []
    images: list[Any] = []

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=10)
    def relay(event: Any) -> None:
        for record in event:
            records.append(record.to_dict())
            images.append((record.event_name, record.table_name, record.new_image))

    # WHEN two versions of an aggregate are written
    with _runner(app, session) as runner:
        ddb = session.client("dynamodb")
        for version in (1, 2):
            ddb.put_item(
                TableName="ledger",
                Item={
                    "aggregate_id": {"S": "acc-1"},
                    "version": {"N": str(version)},
                    "blob": {"B": b"\x00\x01"},
                },
            )
        assert _wait_for(lambda: len(records) == 2)
        assert runner.wait_idle(10)

    # THEN the handler got INSERT records with the new image in DynamoDB JSON, in order
    assert [(name, table) for name, table, _ in images] == [("INSERT", "ledger")] * 2
    assert [img["version"] for _, _, img in images] == [{"N": "1"}, {"N": "2"}]
    assert images[0][2]["blob"] == {"B": "AAE="}
    first = records[0]
    assert first["eventSource"] == "aws:dynamodb"
    assert first["eventSourceARN"] == stream_arn
    assert first["awsRegion"] == REGION
    assert first["dynamodb"]["Keys"] == {"aggregate_id": {"S": "acc-1"}, "version": {"N": "1"}}
    assert first["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
    assert int(records[1]["dynamodb"]["SequenceNumber"]) > int(first["dynamodb"]["SequenceNumber"])


def _table_stream_relay(
    session: boto3.session.Session,
) -> tuple[Chalice, list[str], Any, threading.Event]:
    """An app whose handler on a table's stream collects the versions it gets, a client
    factory, and an event set once that stream's poller has found it empty."""
    stream_arn = _table_with_stream(session)
    app = Chalice("t")
    versions: list[str] = []

    @app.on_dynamodb_record(stream_arn=stream_arn)
    def relay(event: Any) -> None:
        versions.extend(record.new_image["version"]["N"] for record in event)

    polled_empty = threading.Event()
    factory = _on_call(
        session, "dynamodbstreams", "GetRecords", "Records", with_items=False, seen=polled_empty
    )
    return app, versions, factory, polled_empty


def test_table_streams_have_their_own_idle_poll_interval(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler on a table's stream, whose poller has found the stream empty, on a
    # runner whose pollers idle for an hour, but a table stream's for 50 ms
    app, versions, factory, polled_empty = _table_stream_relay(session)
    runner = _runner(
        app,
        session,
        client_factory=factory,
        idle_poll_seconds=3600,
        dynamodb_idle_poll_seconds=0.05,
    )
    with runner:
        assert polled_empty.wait(10)

        # WHEN another writer (no handler of the runner, so nothing wakes it) writes the table
        session.client("dynamodb").put_item(
            TableName="ledger", Item={"aggregate_id": {"S": "a"}, "version": {"N": "1"}}
        )

        # THEN the next poll, not an hour later, hands the record over
        assert _wait_for(lambda: versions == ["1"], timeout=10)


def test_a_table_written_by_another_process_is_taken_at_once_when_its_streams_are_woken(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler on a table's stream, whose poller has found it empty, on a runner
    # whose pollers idle for an hour
    app, versions, factory, polled_empty = _table_stream_relay(session)
    with _runner(app, session, client_factory=factory, idle_poll_seconds=3600) as runner:
        assert polled_empty.wait(10)

        # WHEN another process writes the table, then says it wrote a table
        session.client("dynamodb").put_item(
            TableName="ledger", Item={"aggregate_id": {"S": "a"}, "version": {"N": "1"}}
        )
        runner.wake_table_streams()

        # THEN the table's record is handed over at once, not an hour later
        assert _wait_for(lambda: versions == ["1"], timeout=10)


def test_dynamodb_poison_record_goes_to_failure_queue_with_stream_batch_info(
    session: boto3.session.Session,
) -> None:
    # GIVEN a handler that cannot handle version 2
    stream_arn = _table_with_stream(session)
    sqs = session.client("sqs")
    failure_url, _ = _queue(sqs, "stream-failures")
    ddb = session.client("dynamodb")
    for version in (1, 2, 3):
        ddb.put_item(
            TableName="ledger",
            Item={"aggregate_id": {"S": "a"}, "version": {"N": str(version)}},
        )
    app = Chalice("t")
    done: list[str] = []

    @app.on_dynamodb_record(stream_arn=stream_arn, starting_position="TRIM_HORIZON")
    def relay(event: Any) -> None:
        versions = [r.new_image["version"]["N"] for r in event]
        if "2" in versions:
            raise ValueError("bad")
        done.extend(versions)

    # WHEN the runner settles (the failure queue given by name)
    with _runner(app, session, failure_queue_url="stream-failures", retry=FAST_RETRY) as runner:
        assert runner.wait_idle(10)

    # THEN versions 1 and 3 were handled and version 2 went to the failure queue
    assert sorted(set(done)) == ["1", "3"]
    (message,) = _drain(sqs, failure_url)
    body = json.loads(message["Body"])
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert body["DDBStreamBatchInfo"]["streamArn"] == stream_arn
    assert body["records"][0]["dynamodb"]["NewImage"]["version"] == {"N": "2"}


# --- lifecycle ----------------------------------------------------------------------


def test_stop_ends_every_thread_quickly(session: boto3.session.Session) -> None:
    # GIVEN a runner polling a queue, a stream and a table stream
    sqs = session.client("sqs")
    _queue(sqs, "q")
    session.client("kinesis").create_stream(StreamName="s", ShardCount=2)
    stream_arn = _table_with_stream(session)
    app = Chalice("t")

    @app.on_sqs_message(queue="q")
    def on_q(event: Any) -> None:
        pass

    @app.on_kinesis_record(stream="s")
    def on_s(event: Any) -> None:
        pass

    @app.on_dynamodb_record(stream_arn=stream_arn)
    def on_t(event: Any) -> None:
        pass

    before = set(threading.enumerate())
    runner = _runner(app, session)
    runner.start()
    assert sorted(runner.source_names) == ["on_q", "on_s", "on_t"]
    time.sleep(0.3)

    # WHEN it is stopped
    started = time.monotonic()
    runner.stop()

    # THEN it returns promptly (bounded generously for loaded CI) and leaves no thread behind
    assert time.monotonic() - started < 10
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []
    assert not runner.running


def test_start_fails_clearly_when_a_queue_is_missing(session: boto3.session.Session) -> None:
    # GIVEN a handler on a queue that does not exist
    app = Chalice("t")

    @app.on_sqs_message(queue="missing")
    def handle(event: Any) -> None:
        pass

    # WHEN / THEN starting raises
    runner = _runner(app, session)
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        runner.start()
    runner.stop()
