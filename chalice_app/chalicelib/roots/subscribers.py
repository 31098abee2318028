"""The SQS subscribers' role: each declared consumer (resources.SUBSCRIBERS) over its queue."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib import aws, faults, resources, roots
from chalicelib.consumers import SqsBatchProcessor, UserEventConsumer
from chalicelib.events import CloudEvent
from chalicelib.roots import stores
from chalicelib.settings import get_settings
from chalicelib.user_records import History
from projections.accounts import ACCOUNT_TYPES

if TYPE_CHECKING:
    from chalicelib.personal_data import PersonalDataVault

__all__ = [
    "SubscriberResources",
    "applied_positions",
    "consume_user_events",
    "subscriber_consumer",
]


def _history(user_id: str, after_version: int) -> list[CloudEvent]:
    return stores.ledger().load(user_id, after_version=after_version)


class SubscriberResources:
    """A subscriber's resources (chalicelib.subscriber_context), each built on first use.

    Only what a subscriber uses is built, so the vault (cryptography) is
    imported by the subscribers that open personal data alone.
    """

    def __init__(self, key: str) -> None:
        self._spec = resources.subscriber(key)

    @cached_property
    def table(self) -> Any:
        return aws.table(self._spec.table.key)

    @property
    def history(self) -> History:
        return _history

    @cached_property
    def vault(self) -> PersonalDataVault:
        return roots.vault.vault()

    @cached_property
    def ses(self) -> Any:
        return aws.client("sesv2")

    @property
    def email_sender(self) -> str:
        sender = get_settings().email_sender
        if not sender:
            raise RuntimeError(f"{resources.EMAIL_SENDER_ENV_VAR} is not set")
        return sender


def subscriber_consumer(key: str) -> UserEventConsumer:
    """The consumer of the subscriber declared with queue key ``key`` (resources.SUBSCRIBERS)."""
    module_name, _, class_name = resources.subscriber(key).consumer.partition(":")
    # The declaration names its consumer instead of importing it, so that it
    # stays plain data that Terraform's generator and the local stack can read.
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


def consume_user_events(consumer_key: str, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Run the consumer declared as ``consumer_key`` over an SQS batch."""
    consumer = _Drillable(consumer_key, subscriber_consumer(consumer_key))
    return SqsBatchProcessor(aws.client("sqs"), consumer, consumer_key).process(records)


def applied_positions(event: Mapping[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Where each consumer and the projector stand for ``event``'s aggregate (for ops trace)."""
    subject = str(event["subject"])
    positions: dict[str, dict[str, Any] | None] = {
        s.key: subscriber_consumer(s.key).position(subject) for s in resources.SUBSCRIBERS
    }
    store = stores.read_models()
    version: int | None
    if event["type"] in ACCOUNT_TYPES:
        stored = store.load_account(subject)
        version = stored.positions.get(subject) if stored else None
    else:
        user_id = (event.get("data") or {}).get("user_id") or subject
        version = store.loyalty_applied(str(user_id), subject)
    positions["projector"] = None if version is None else {"version": int(version)}
    return positions
