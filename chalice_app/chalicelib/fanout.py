"""Fan-out: user events from the Kinesis stream -> the SNS topic.

Message attributes carry what the subscriptions' filter policies need:
``type``, ``loyalty`` and ``marketing`` (``"true"``/``"false"``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.events import (
    USER_CONSENTS_CHANGED,
    USER_CREATED,
    USER_ERASED,
    USER_LOYALTY_JOINED,
    USER_LOYALTY_LEFT,
    CloudEvent,
    parse_event,
)

__all__ = ["FANOUT_TYPE_PREFIX", "UserEventFanout", "message_attributes"]

FANOUT_TYPE_PREFIX = "com.example.user."
_PUBLISH_BATCH_MAX = 10


def _flag(value: bool) -> dict[str, str]:
    return {"DataType": "String", "StringValue": "true" if value else "false"}


def message_attributes(event: CloudEvent) -> dict[str, dict[str, str]]:
    """SNS message attributes for a user event.

    ``loyalty`` and ``marketing`` are the user's flags after the event (the new
    value for the lifecycle events; the event says which flag it changes).
    """
    attributes = {"type": {"DataType": "String", "StringValue": event.type}}
    if event.type == USER_CREATED:
        attributes["loyalty"] = _flag(bool(event.data.get("loyalty")))
        attributes["marketing"] = _flag(bool(event.data.get("consents", {}).get("marketing")))
    elif event.type == USER_ERASED:
        # The erasure reaches every consumer that was sent the person's data.
        attributes["loyalty"] = _flag(bool(event.data.get("loyalty")))
        attributes["marketing"] = _flag(bool(event.data.get("marketing")))
    elif event.type in (USER_LOYALTY_JOINED, USER_LOYALTY_LEFT):
        attributes["loyalty"] = _flag(event.type == USER_LOYALTY_JOINED)
    elif event.type == USER_CONSENTS_CHANGED:
        attributes["marketing"] = _flag(bool(event.data.get("marketing")))
    return attributes


class UserEventFanout:
    """Publishes user events to the topic with PublishBatch; takes an sns client."""

    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def publish(self, raw_records: list[bytes]) -> int:
        """Publish the user events among ``raw_records``; returns how many.

        An unparseable record raises InvalidEvent (the mapping retries and
        then sends it to the failure destination); a failed publish raises.
        """
        events = [parse_event(raw) for raw in raw_records]
        selected = [e for e in events if e.type.startswith(FANOUT_TYPE_PREFIX)]
        for start in range(0, len(selected), _PUBLISH_BATCH_MAX):
            chunk = selected[start : start + _PUBLISH_BATCH_MAX]
            response = self._sns.publish_batch(
                TopicArn=self._topic_arn,
                PublishBatchRequestEntries=[
                    {
                        "Id": str(i),
                        "Message": e.to_json().decode(),
                        "MessageAttributes": message_attributes(e),
                    }
                    for i, e in enumerate(chunk)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SNS PublishBatch failed for {response['Failed']}")
        return len(selected)
