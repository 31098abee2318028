"""Fan-out: user events from the Kinesis stream -> the SNS topic.

Message attributes carry what the subscriptions' filter policies need:
``type``, and the flags each event type declares (``EventData.sns_attributes``
in the catalogue: ``loyalty``, ``marketing``, as ``"true"``/``"false"``).
Events are published as the current version of their type (the stream may
still carry older ones).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.batching import BatchLimits, send_batches
from chalicelib.domain.events import USER_TYPE_PREFIX, CloudEvent, parse_event

__all__ = ["FANOUT_TYPE_PREFIX", "PUBLISH_BATCH_LIMITS", "UserEventFanout", "message_attributes"]

FANOUT_TYPE_PREFIX = USER_TYPE_PREFIX
# PublishBatch: at most 10 messages and 256 KiB (messages plus attributes) per call.
PUBLISH_BATCH_LIMITS = BatchLimits(max_entries=10, max_bytes=256 * 1024)


def _flag(value: bool) -> dict[str, str]:
    return {"DataType": "String", "StringValue": "true" if value else "false"}


def message_attributes(event: CloudEvent) -> dict[str, dict[str, str]]:
    """SNS message attributes for a user event.

    ``loyalty`` and ``marketing`` are the user's flags after the event (the new
    value for the lifecycle events; the event says which flag it changes).
    """
    attributes = {"type": {"DataType": "String", "StringValue": event.type}}
    for name, value in event.data.sns_attributes().items():
        attributes[name] = _flag(value)
    return attributes


def _entry_size(entry: dict[str, Any]) -> int:
    attributes = entry["MessageAttributes"]
    return len(entry["Message"].encode()) + sum(
        len(name) + len(value["DataType"]) + len(value["StringValue"])
        for name, value in attributes.items()
    )


class UserEventFanout:
    """Publishes user events to the topic with PublishBatch; takes an sns client."""

    def __init__(
        self, sns: Any, topic_arn: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._sleep = sleep

    def publish(self, raw_records: list[bytes]) -> int:
        """Publish the user events among ``raw_records``; returns how many.

        An unparseable record raises InvalidEvent (the mapping retries and
        then sends it to the failure destination). Entries a PublishBatch
        reports as failed, and only those, are published again; if some
        still fail, this raises, so the mapping retries the batch (the
        consumers skip what they already applied).
        """
        events = [parse_event(raw) for raw in raw_records]
        entries = [
            {
                "Message": e.to_json().decode(),
                "MessageAttributes": message_attributes(e),
            }
            for e in events
            if e.type.startswith(FANOUT_TYPE_PREFIX)
        ]
        failed = send_batches(
            entries, self._publish, PUBLISH_BATCH_LIMITS, size=_entry_size, sleep=self._sleep
        )
        if failed:
            raise RuntimeError(f"SNS PublishBatch failed for {len(failed)} event(s)")
        return len(entries)

    def _publish(self, chunk: list[dict[str, Any]]) -> list[int]:
        response = self._sns.publish_batch(
            TopicArn=self._topic_arn,
            PublishBatchRequestEntries=[{**entry, "Id": str(i)} for i, entry in enumerate(chunk)],
        )
        return [int(failure["Id"]) for failure in response.get("Failed", [])]
