"""End to end: the SNS -> SQS and Kinesis paths on the stack's moto lose nothing under races.

Many producers publish at once while consumers receive, leave failing
batch-mates for redelivery and delete the rest; every acknowledged message
must arrive, and every acknowledged Kinesis record must be stored once.
(Why moto is served one request at a time: tests/handler/test_moto_concurrency_gap.py.)
"""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_aws.stack_process import LocalStackProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PRODUCERS = 8
PER_PRODUCER = 50
CONSUMERS = 3


def _queue_empty(sqs: Any, url: str) -> bool:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    visible, in_flight = (
        attrs["ApproximateNumberOfMessages"],
        attrs["ApproximateNumberOfMessagesNotVisible"],
    )
    return visible == in_flight == "0"


def test_sns_to_sqs_with_failing_batch_mates_delivers_every_message(
    local_stack: LocalStackProcess,
) -> None:
    # GIVEN a topic with a raw SQS subscription (visibility 1 s, so failures come back fast)
    sns, sqs = local_stack.client("sns"), local_stack.client("sqs")
    name = f"race-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    published: set[str] = set()
    received: set[str] = set()
    lock = threading.Lock()
    producing = threading.Event()
    producing.set()
    rng = random.Random(9)

    def produce(producer: int) -> None:
        for i in range(PER_PRODUCER):
            body = f"{producer}-{i}"
            sns.publish(TopicArn=topic, Message=body)
            with lock:
                published.add(body)

    def consume(_: int) -> None:
        while producing.is_set() or not _queue_empty(sqs, url):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            with lock:
                # About one in five fails in its batch and stays for redelivery.
                done = [m for m in messages if rng.random() > 0.2]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
                with lock:
                    received.update(m["Body"] for m in done)

    # WHEN producers publish while consumers consume, fail some and delete the rest
    with ThreadPoolExecutor(PRODUCERS + CONSUMERS) as pool:
        consumers = [pool.submit(consume, c) for c in range(CONSUMERS)]
        list(pool.map(produce, range(PRODUCERS)))
        producing.clear()
        for consumer in consumers:
            consumer.result(timeout=120)
    # THEN every acknowledged publish was received and deleted
    assert len(published) == PRODUCERS * PER_PRODUCER
    assert received == published


def test_kinesis_keeps_every_record_of_racing_producers(local_stack: LocalStackProcess) -> None:
    # GIVEN a two-shard stream
    kinesis = local_stack.client("kinesis")
    name = f"race-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    wait_for(
        lambda: (
            kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE"
        )
    )

    # WHEN many producers put records at once
    def produce(producer: int) -> list[tuple[str, str]]:
        return [
            (
                kinesis.put_record(
                    StreamName=name, Data=f"{producer}-{i}".encode(), PartitionKey=f"k{i}"
                )["ShardId"],
                f"{producer}-{i}",
            )
            for i in range(PER_PRODUCER)
        ]

    with ThreadPoolExecutor(PRODUCERS) as pool:
        acknowledged = [record for batch in pool.map(produce, range(PRODUCERS)) for record in batch]
    stored: list[tuple[str, str, str]] = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while records := (response := kinesis.get_records(ShardIterator=iterator))["Records"]:
            stored += [(shard["ShardId"], r["Data"].decode(), r["SequenceNumber"]) for r in records]
            iterator = response["NextShardIterator"]
    # THEN each acknowledged record is stored once, in its shard, under its own sequence number
    assert sorted((s, d) for s, d, _ in stored) == sorted(acknowledged)
    assert len({(s, n) for s, _, n in stored}) == len(stored)
