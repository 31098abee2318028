"""ops.py's queue work against in-process moto: listing, moving back, no loss."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.settings import get_settings
from operations import queues, stream_failures
from tests.handler.helpers import apply_moto_patch, queue_url


def _dlq(key: str = "gdpr-consents") -> queues.FailureQueue:
    return next(q for q in queues.failure_queues(get_settings()) if q.name == f"evp-{key}-dlq")


def _fill(name: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(
            QueueUrl=queue_url(name),
            MessageBody=body,
            MessageAttributes={"type": {"DataType": "String", "StringValue": "t"}},
        )


def _count(name: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_failure_queues_are_every_dlq_and_stream_failures(aws_env: dict[str, str]) -> None:
    names = {q.name for q in queues.failure_queues(get_settings())}
    # every declared subscriber's DLQ, the search redaction queue's DLQ, and the stream
    # consumers' on-failure queue
    dlqs = {f"evp-{s.queue.dlq_suffix}" for s in resources.SUBSCRIBERS}
    assert "evp-loyalty-enrolment-dlq" in dlqs
    assert names == dlqs | {"evp-search-redaction-dlq", "evp-stream-failures"}
    redaction = queues.find_queue(get_settings(), "search-redaction-dlq")
    assert (redaction.kind, redaction.source) == ("dlq", "evp-search-redaction")
    assert queues.find_queue(get_settings(), "stream-failures").kind == "stream-failures"
    with pytest.raises(KeyError):
        queues.find_queue(get_settings(), "nope")


def test_inspect_shows_depth_age_and_reason(aws_env: dict[str, str]) -> None:
    # GIVEN a DLQ holding one event
    _fill(_dlq().name, [json.dumps({"id": "e-1", "type": "com.example.user.created"})])
    # WHEN it is inspected
    status = queues.inspect(boto3.client("sqs"), _dlq())
    # THEN depth, age and a reason naming the event are shown, and the message stays
    assert (status.depth, status.source) == (1, "evp-gdpr-consents")
    assert status.oldest_age_seconds is not None and status.oldest_age_seconds >= 0
    assert "e-1" in (status.sample_reason or "")
    assert _count(_dlq().name) == 1


def test_move_messages_runs_a_move_task_where_the_endpoint_has_one(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an endpoint with StartMessageMoveTask (moto patched as the local stack runs it;
    # tests/handler/test_moto_patches.py shows moto without it), and 3 messages in a DLQ
    apply_moto_patch("sqs-message-move-tasks", monkeypatch)
    _fill(_dlq().name, ["a", "b", "c"])
    # WHEN they are moved back
    result = queues.move_messages(boto3.client("sqs"), _dlq())
    # THEN the move task moved them all to the source queue
    assert result == {"moved": 3, "method": "task"}
    assert (_count(_dlq().name), _count("evp-gdpr-consents")) == (0, 3)


def test_move_messages_back_to_the_source_queue(aws_env: dict[str, str]) -> None:
    # GIVEN 13 messages (more than one receive) in the GDPR DLQ
    bodies = [json.dumps({"n": i}) for i in range(13)]
    _fill(_dlq().name, bodies)
    # WHEN they are moved back
    result = queues.move_messages(boto3.client("sqs"), _dlq())
    # THEN (in-process moto has no move task: the copy loop) every one is on the source
    # queue with its attributes, and the DLQ is empty
    assert result == {"moved": 13, "method": "copy"}
    assert _count(_dlq().name) == 0
    sqs = boto3.client("sqs")
    moved: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url("evp-gdpr-consents"),
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        moved += [dict(m) for m in batch]
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    assert all(m["MessageAttributes"]["type"]["StringValue"] == "t" for m in moved)


class _SendFails:
    """An sqs client whose sends to the source queue fail (an outage mid-redrive)."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def send_message_batch(self, **kwargs: Any) -> Any:
        raise ConnectionError("source queue unreachable")


def test_an_interrupted_move_loses_nothing(aws_env: dict[str, str]) -> None:
    # GIVEN 3 messages in the DLQ, and sends that fail
    _fill(_dlq().name, ["a", "b", "c"])
    # WHEN a move is interrupted by the failing send
    with pytest.raises(ConnectionError):
        queues.move_messages(_SendFails(boto3.client("sqs")), _dlq())
    # THEN every message is still in the DLQ (deleted only after a successful send)
    assert _count(_dlq().name) == 3


def test_an_on_failure_record_names_the_function_and_the_batch() -> None:
    body = json.dumps(
        {
            "requestContext": {
                "functionArn": "arn:aws:lambda:eu-west-1:1:function:event-platform-dev-projector",
                "condition": "RetryAttemptsExhausted",
            },
            "KinesisBatchInfo": {
                "shardId": "shardId-000000000001",
                "startSequenceNumber": "100",
                "endSequenceNumber": "105",
                "streamArn": "arn:aws:kinesis:eu-west-1:1:stream/evp-events",
            },
        }
    )
    batch = stream_failures.parse_failure(body)
    assert (batch.function, batch.source, batch.start, batch.end) == (
        "event-platform-dev-projector",
        "kinesis",
        "100",
        "105",
    )
