"""The SQS subscribers' role: each declared consumer (resources.SUBSCRIBERS) over its queue."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol

from chalicelib import resources
from chalicelib.adapters import faults
from chalicelib.adapters.subscriber_context import SubscriberContext
from chalicelib.domain.events import CloudEvent
from chalicelib.entrypoints.roots.subscriber_resources import SubscriberResources
from chalicelib.entrypoints.sqs_batch import PartialItemFailureResponse, SqsBatchProcessor
from chalicelib.service.consumers import UserEventConsumer

__all__ = [
    "CONSUMER_CLASSES",
    "ConsumerClass",
    "SubscriberResources",
    "consume_user_events",
    "subscriber_consumer",
]


class ConsumerClass(Protocol):
    """A declared consumer's class: it builds the consumer from the subscriber's resources."""

    def from_context(self, context: SubscriberContext) -> UserEventConsumer: ...


def _consumer_class(declared: str) -> ConsumerClass:
    module_name, _, class_name = declared.partition(":")
    consumer_class: ConsumerClass = getattr(importlib.import_module(module_name), class_name)
    return consumer_class


# Each declared consumer's class by queue key. The declaration names its consumer
# instead of importing it, so that it stays plain data that Terraform's generator
# and the local stack can read; they are imported with this role (a few small
# modules), so that a subscriber's first call imports no code of its own.
CONSUMER_CLASSES: Mapping[str, ConsumerClass] = {
    s.key: _consumer_class(s.consumer) for s in resources.SUBSCRIBERS
}


def subscriber_consumer(key: str) -> UserEventConsumer:
    """The consumer of the subscriber declared with queue key ``key`` (resources.SUBSCRIBERS)."""
    return CONSUMER_CLASSES[key].from_context(SubscriberResources(key))


class _Drillable:
    """A consumer that fails while the fault switch names it (failure drills)."""

    def __init__(self, name: str, consumer: UserEventConsumer) -> None:
        self._name = name
        self._consumer = consumer

    def handle(self, event: CloudEvent) -> bool:
        faults.check(self._name)
        return self._consumer.handle(event)

    def position(self, user_id: str) -> dict[str, Any] | None:
        return self._consumer.position(user_id)


def consume_user_events(
    consumer_key: str, event: Mapping[str, Any], context: Any = None
) -> PartialItemFailureResponse:
    """Run the consumer declared as ``consumer_key`` over an SQS event; its failed messages."""
    consumer = _Drillable(consumer_key, subscriber_consumer(consumer_key))
    return SqsBatchProcessor(consumer, consumer_key).process(event, context)
