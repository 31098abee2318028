"""The user-event consumers behind the SQS queues, and their batch handling.

Each consumer keeps one item per user with the aggregate version it has
applied: a redelivered event (version already applied) changes nothing, and
an event whose predecessor has not been applied yet fails so that SQS
redelivers it later. Failures are per message: the successes of a batch are
deleted explicitly (Chalice cannot declare ReportBatchItemFailures) before
the handler raises, so only failed messages return to the queue and poison
messages reach the DLQ after maxReceiveCount.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.events import (
    USER_CREATED,
    USER_ERASED,
    CloudEvent,
    UserCreated,
    format_time,
    parse_event,
    utc_now,
)
from chalicelib.exceptions import BatchItemFailures, NotFound, OutOfOrderEvent
from chalicelib.observability import BatchObserver, Outcome
from chalicelib.personal_data import PersonalDataVault

__all__ = [
    "CrmContactSync",
    "GdprConsentRecord",
    "LoyaltyEnrolment",
    "SqsBatchProcessor",
    "UserEventConsumer",
]


class UserEventConsumer(Protocol):
    def handle(self, event: CloudEvent) -> bool:
        """Apply ``event``; False if it was already applied (duplicate)."""
        ...


class _VersionedUserTable:
    """One item per user, written only on the next expected version."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, user_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def apply(
        self, event: CloudEvent, build: Callable[[dict[str, Any] | None], Mapping[str, Any]]
    ) -> bool:
        """Write ``build(current item)`` if ``event`` is the next version; False on a duplicate.

        Raises OutOfOrderEvent when a predecessor has not been applied yet.
        """
        current = self.get(event.subject)
        applied = int(current["version"]) if current else 0
        if event.aggregateversion <= applied:
            return False
        if event.aggregateversion > applied + 1:
            raise OutOfOrderEvent(
                f"{event.type} v{event.aggregateversion} of {event.subject} before v{applied + 1}"
            )
        record = {
            **build(current),
            "user_id": event.subject,
            "version": event.aggregateversion,
            "last_event_id": event.id,
            # When this consumer applied it: end-to-end latency is this minus event time.
            "applied_at": format_time(utc_now()),
        }
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "version = :applied",
                "ExpressionAttributeValues": {":applied": applied},
            }
            if applied
            else {"ConditionExpression": "attribute_not_exists(user_id)"}
        )
        try:
            self._table.put_item(Item=record, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # A concurrent delivery won: this is a duplicate or it must wait its turn.
            return self._raced(event)
        return True

    def _raced(self, event: CloudEvent) -> bool:
        current = self.get(event.subject)
        if current and int(current["version"]) >= event.aggregateversion:
            return False
        raise OutOfOrderEvent(f"{event.type} v{event.aggregateversion} of {event.subject} raced")


class _VersionedConsumer:
    _store: _VersionedUserTable

    def position(self, user_id: str) -> dict[str, Any] | None:
        """The version and event id this consumer last applied for ``user_id``."""
        item = self._store.get(user_id)
        if item is None:
            return None
        return {"version": int(item["version"]), "last_event_id": item.get("last_event_id")}


def _erased(event: CloudEvent) -> dict[str, Any]:
    return {"erased": True, "erased_at": event.to_dict()["time"]}


class LoyaltyEnrolment(_VersionedConsumer):
    """Enrols users who opted into the loyalty programme; keeps no personal data."""

    def __init__(self, table: Any) -> None:
        self._store = _VersionedUserTable(table)

    def handle(self, event: CloudEvent) -> bool:
        if event.type == USER_CREATED:
            time = event.to_dict()["time"]
            return self._store.apply(event, lambda _: {"enrolled": True, "enrolled_at": time})
        if event.type == USER_ERASED:
            # Points stay (they are not personal data); the enrolment is marked.
            return self._store.apply(event, lambda current: {**(current or {}), **_erased(event)})
        return False

    def get(self, user_id: str) -> dict[str, Any] | None:
        return self._store.get(user_id)


class GdprConsentRecord(_VersionedConsumer):
    """Keeps the consent record of every user, as given at registration."""

    def __init__(self, table: Any) -> None:
        self._store = _VersionedUserTable(table)

    def handle(self, event: CloudEvent) -> bool:
        if event.type == USER_CREATED:
            consents = {"marketing": bool(event.data.get("consents", {}).get("marketing"))}
            record = {
                "consents": consents,
                "recorded_at": event.to_dict()["time"],
                "source_event_id": event.id,
            }
            return self._store.apply(event, lambda _: record)
        if event.type == USER_ERASED:
            # The record holds no personal data; it keeps the proof of consent and erasure.
            return self._store.apply(event, lambda current: {**(current or {}), **_erased(event)})
        return False

    def view(self, user_id: str) -> dict[str, Any]:
        """The consent record; NotFound if none."""
        item = self._store.get(user_id)
        if item is None or "consents" not in item:
            raise NotFound(f"no consent record for user {user_id}")
        consents = {k: bool(v) for k, v in item["consents"].items()}
        view = {
            "user_id": user_id,
            "marketing": consents.get("marketing", False),
            "consents": consents,
            "recorded_at": item["recorded_at"],
            "source_event_id": item["source_event_id"],
        }
        if item.get("erased"):
            view["erased_at"] = item["erased_at"]
        return view


class CrmContactSync(_VersionedConsumer):
    """Mirrors users who consented to marketing into the CRM contact table.

    The contact is stored sealed, like every other copy (so backups of the
    table hold no clear text), and opened when read; an erasure replaces it
    with a tombstone holding no personal data.
    """

    def __init__(self, table: Any, vault: PersonalDataVault) -> None:
        self._store = _VersionedUserTable(table)
        self._vault = vault

    def handle(self, event: CloudEvent) -> bool:
        if event.type == USER_ERASED:
            return self._store.apply(
                event, lambda _: {"marketing_consent": False, **_erased(event)}
            )
        if event.type != USER_CREATED:
            return False
        if not event.data.get("consents", {}).get("marketing"):
            # The filter policy should never deliver these; never store them.
            return False
        data = event.data
        contact = {
            "name": data["name"],
            "lastname": data["lastname"],
            "email": data["email"],
            "address": data["address"],
            "marketing_consent": True,
            "synced_at": event.to_dict()["time"],
        }
        return self._store.apply(event, lambda _: contact)

    def view(self, user_id: str) -> dict[str, Any]:
        """The CRM contact; NotFound if none (also without marketing consent, or erased)."""
        item = self._store.get(user_id)
        if item is None or item.get("erased"):
            raise NotFound(f"no CRM contact for user {user_id}")
        item = self._vault.open(user_id, item, UserCreated.personal_fields)
        return {
            "user_id": user_id,
            "name": item["name"],
            "lastname": item["lastname"],
            "email": item["email"],
            "address": item["address"],
            "marketing_consent": bool(item["marketing_consent"]),
            "synced_at": item["synced_at"],
        }


def _queue_url(sqs: Any, queue_arn: str, cache: dict[str, str]) -> str:
    if queue_arn not in cache:
        _, _, _, _, account, name = queue_arn.split(":", 5)
        cache[queue_arn] = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
            "QueueUrl"
        ]
    return cache[queue_arn]


class SqsBatchProcessor:
    """Runs a consumer over an SQS batch with per-message failure; takes an sqs client."""

    def __init__(self, sqs: Any, consumer: UserEventConsumer, name: str = "consumer") -> None:
        self._sqs = sqs
        self._consumer = consumer
        self._name = name
        self._queue_urls: dict[str, str] = {}

    def process(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Apply every record; raises BatchItemFailures after deleting the successes."""
        succeeded: list[Mapping[str, Any]] = []
        failed: list[Mapping[str, Any]] = []
        applied = duplicates = 0
        observer = BatchObserver(self._name)
        try:
            for record in records:
                try:
                    with observer.event(record["body"]) as slot:
                        if self._consumer.handle(parse_event(record["body"])):
                            applied += 1
                        else:
                            duplicates += 1
                            slot["outcome"] = Outcome.DUPLICATE
                    succeeded.append(record)
                except Exception:
                    # Poison, out-of-order or a transient error alike (the
                    # observer logged why): only this message goes back.
                    failed.append(record)
            if failed:
                self._delete(succeeded)
                raise BatchItemFailures([str(r.get("messageId")) for r in failed])
        finally:
            observer.flush()
        return {"applied": applied, "duplicates": duplicates}

    def _delete(self, records: list[Mapping[str, Any]]) -> None:
        by_queue: dict[str, list[Mapping[str, Any]]] = {}
        for record in records:
            by_queue.setdefault(record["eventSourceARN"], []).append(record)
        for arn, queue_records in by_queue.items():
            url = _queue_url(self._sqs, arn, self._queue_urls)
            for start in range(0, len(queue_records), 10):
                chunk = queue_records[start : start + 10]
                self._sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(chunk)
                    ],
                )
