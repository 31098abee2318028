"""The SQS subscribers' role: each declared consumer (resources.SUBSCRIBERS) over its queue."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from chalicelib import resources
from chalicelib.adapters import faults
from chalicelib.domain.events import CloudEvent
from chalicelib.entrypoints.roots.subscriber_resources import SubscriberResources
from chalicelib.entrypoints.sqs_batch import PartialItemFailureResponse, SqsBatchProcessor
from chalicelib.service.consumers import UserEventConsumer

__all__ = [
    "SubscriberResources",
    "consume_user_events",
    "subscriber_consumer",
]

# The declared consumers' modules, imported with this role (a few small modules) so
# that a subscriber's first call imports no code of its own. The declaration names its
# consumer instead of importing it, so that it stays plain data that Terraform's
# generator and the local stack can read.
for _module in sorted({s.consumer.partition(":")[0] for s in resources.SUBSCRIBERS}):
    importlib.import_module(_module)


def subscriber_consumer(key: str) -> UserEventConsumer:
    """The consumer of the subscriber declared with queue key ``key`` (resources.SUBSCRIBERS)."""
    module_name, _, class_name = resources.subscriber(key).consumer.partition(":")
    consumer_class = getattr(importlib.import_module(module_name), class_name)
    consumer: UserEventConsumer = consumer_class.from_context(SubscriberResources(key))
    return consumer


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
