"""The failure queues: every consumer DLQ and the stream consumers' failure queue.

The list is derived from chalicelib/resources.py (the one declaration), so a
new consumer queue is listed, alarmed on and redrivable without changes here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import resources
from chalicelib.settings import Settings

__all__ = [
    "STREAM_FAILURES",
    "FailureQueue",
    "QueueStatus",
    "failure_queues",
    "find_queue",
    "inspect",
    "move_messages",
    "peek",
]

STREAM_FAILURES = "stream-failures"
# Codes an endpoint answers StartMessageMoveTask with when it lacks it (emulators).
_MOVE_TASK_UNSUPPORTED = {"UnsupportedOperation", "InvalidAction", "NotImplemented", "500", "501"}


@dataclass(frozen=True)
class FailureQueue:
    """A queue where failed messages wait; ``source`` is where redrive sends them."""

    name: str
    kind: str  # "dlq" (source: an SQS queue) or "stream-failures" (source: the stream)
    source: str
    max_receive_count: int | None = None


@dataclass(frozen=True)
class QueueStatus:
    """What ``ops.py dlq`` shows for one queue."""

    name: str
    kind: str
    source: str
    depth: int
    in_flight: int
    oldest_age_seconds: float | None
    sample_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def failure_queues(settings: Settings) -> list[FailureQueue]:
    """Every DLQ (with its source queue) and the stream failure queue."""
    queues = [
        FailureQueue(
            name=resources.resource_name(settings.name_prefix, spec.dlq_suffix),
            kind="dlq",
            source=settings.queue(spec.key),
            max_receive_count=spec.max_receive_count,
        )
        for spec in resources.QUEUES
    ]
    redaction = resources.SEARCH_LATE_REDACTION
    queues.append(
        FailureQueue(
            name=resources.resource_name(settings.name_prefix, redaction.dlq_suffix),
            kind="dlq",
            source=settings.search_redaction_queue,
            max_receive_count=redaction.max_receive_count,
        )
    )
    queues.append(
        FailureQueue(
            name=settings.stream_failure_queue, kind=STREAM_FAILURES, source=settings.event_stream
        )
    )
    return queues


def find_queue(settings: Settings, name: str) -> FailureQueue:
    """The failure queue called ``name`` (its full name, or the name without the prefix)."""
    for queue in failure_queues(settings):
        if name in (queue.name, queue.name.removeprefix(f"{settings.name_prefix}-")):
            return queue
    known = ", ".join(q.name for q in failure_queues(settings))
    raise KeyError(f"no failure queue {name!r}; known: {known}")


def peek(sqs: Any, url: str, limit: int = 10) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, left in the queue (visible again at once)."""
    response = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=min(limit, 10),
        VisibilityTimeout=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages", []))


def _reason(queue: FailureQueue, message: dict[str, Any]) -> str:
    try:
        body = json.loads(message["Body"])
    except (ValueError, KeyError):
        body = {}
    if queue.kind == STREAM_FAILURES and isinstance(body, dict):
        context = body.get("requestContext", {})
        function = str(context.get("functionArn", "?")).rsplit(":", 1)[-1]
        detail = body.get("errorMessage") or body.get("responseContext", {}).get("functionError")
        return (
            f"{function}: {context.get('condition', 'failed')} after "
            f"{context.get('approximateInvokeCount', '?')} attempts ({detail})"
        )
    event = body if isinstance(body, dict) else {}
    return (
        f"{event.get('type', 'not an event')} {event.get('id', '')} failed "
        f"{queue.max_receive_count} deliveries from {queue.source}; "
        "the consumer's log lines with this event_id say why"
    )


def inspect(sqs: Any, queue: FailureQueue, now: Callable[[], float] = time.time) -> QueueStatus:
    """Depth, oldest message age and a sample failure reason of ``queue``."""
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    depth = int(attributes.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    sample = peek(sqs, url) if depth else []
    sent = [int(m["Attributes"]["SentTimestamp"]) for m in sample if "Attributes" in m]
    oldest = round(now() - min(sent) / 1000, 1) if sent else None
    return QueueStatus(
        name=queue.name,
        kind=queue.kind,
        source=queue.source,
        depth=depth,
        in_flight=in_flight,
        oldest_age_seconds=oldest,
        sample_reason=_reason(queue, sample[0]) if sample else None,
    )


def _arn(sqs: Any, url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def move_messages(sqs: Any, queue: FailureQueue, *, wait_seconds: float = 300) -> dict[str, Any]:
    """Move a DLQ's messages back to its source queue; ``{"moved", "method"}``.

    Uses SQS StartMessageMoveTask where the endpoint has it (and waits for the
    task), else a receive / send / delete loop that deletes a message only
    after its copy was sent: an interruption can duplicate a message (the
    consumers skip duplicates by version), never lose one.
    """
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    source_url = sqs.get_queue_url(QueueName=queue.source)["QueueUrl"]
    try:
        task = sqs.start_message_move_task(
            SourceArn=_arn(sqs, url), DestinationArn=_arn(sqs, source_url)
        )
    except NotImplementedError:
        pass  # in-process moto
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code not in _MOVE_TASK_UNSUPPORTED and status not in _MOVE_TASK_UNSUPPORTED:
            raise
    else:
        moved = _await_move_task(sqs, _arn(sqs, url), task, wait_seconds)
        return {"moved": moved, "method": "task"}
    return {"moved": _move_by_copy(sqs, url, source_url), "method": "copy"}


def _await_move_task(sqs: Any, dlq_arn: str, task: dict[str, Any], wait_seconds: float) -> int:
    deadline = time.monotonic() + wait_seconds
    while True:
        for result in sqs.list_message_move_tasks(SourceArn=dlq_arn).get("Results", []):
            if result.get("TaskHandle") != task.get("TaskHandle"):
                continue
            if result.get("Status") in ("COMPLETED", "FAILED", "CANCELLED"):
                if result["Status"] != "COMPLETED":
                    raise RuntimeError(f"message move task {result['Status']}: {result}")
                return int(result.get("ApproximateNumberOfMessagesMoved", 0))
        if time.monotonic() > deadline:
            raise TimeoutError("the message move task is still running; check it later")
        time.sleep(1)


def _move_by_copy(sqs: Any, url: str, source_url: str) -> int:
    # Bounded by what was there at the start, so messages that fail again and
    # come back during the move are not moved round in a loop.
    budget = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    moved = 0
    while moved < budget:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, budget - moved),
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        sent = sqs.send_message_batch(
            QueueUrl=source_url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": m["Body"],
                    **(
                        {"MessageAttributes": m["MessageAttributes"]}
                        if m.get("MessageAttributes")
                        else {}
                    ),
                }
                for i, m in enumerate(messages)
            ],
        )
        done = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        moved += len(done)
        if sent.get("Failed"):
            raise RuntimeError(f"{len(sent['Failed'])} message(s) could not be sent back: {sent}")
    return moved
