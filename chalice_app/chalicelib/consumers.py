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

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.events import USER_CREATED, CloudEvent, format_time, parse_event, utc_now
from chalicelib.exceptions import BatchItemFailures, NotFound, OutOfOrderEvent

__all__ = [
    "CrmContactSync",
    "GdprConsentRecord",
    "LoyaltyEnrolment",
    "SqsBatchProcessor",
    "UserEventConsumer",
]

logger = logging.getLogger(__name__)


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

    def create(self, event: CloudEvent, item: Mapping[str, Any]) -> bool:
        """Store ``item`` for the aggregate's first applied event; False on a duplicate."""
        record = {
            **item,
            "user_id": event.subject,
            "version": event.aggregateversion,
            "last_event_id": event.id,
            # When this consumer applied it: end-to-end latency is this minus event time.
            "applied_at": format_time(utc_now()),
        }
        if event.aggregateversion != 1:
            return self._check_order(event)
        try:
            self._table.put_item(Item=record, ConditionExpression="attribute_not_exists(user_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _check_order(self, event: CloudEvent) -> bool:
        current = self.get(event.subject)
        applied = int(current["version"]) if current else 0
        if event.aggregateversion <= applied:
            return False
        raise OutOfOrderEvent(
            f"{event.type} v{event.aggregateversion} of {event.subject} before v{applied + 1}"
        )


class LoyaltyEnrolment:
    """Enrols users who opted into the loyalty programme."""

    def __init__(self, table: Any) -> None:
        self._store = _VersionedUserTable(table)

    def handle(self, event: CloudEvent) -> bool:
        if event.type != USER_CREATED:
            return False
        return self._store.create(event, {"enrolled": True, "enrolled_at": event.to_dict()["time"]})

    def get(self, user_id: str) -> dict[str, Any] | None:
        return self._store.get(user_id)


class GdprConsentRecord:
    """Keeps the consent record of every user, as given at registration."""

    def __init__(self, table: Any) -> None:
        self._store = _VersionedUserTable(table)

    def handle(self, event: CloudEvent) -> bool:
        if event.type != USER_CREATED:
            return False
        consents = {"marketing": bool(event.data.get("consents", {}).get("marketing"))}
        return self._store.create(
            event,
            {
                "consents": consents,
                "recorded_at": event.to_dict()["time"],
                "source_event_id": event.id,
            },
        )

    def view(self, user_id: str) -> dict[str, Any]:
        """The consent record; NotFound if none."""
        item = self._store.get(user_id)
        if item is None:
            raise NotFound(f"no consent record for user {user_id}")
        return {
            "user_id": user_id,
            "consents": {k: bool(v) for k, v in item["consents"].items()},
            "recorded_at": item["recorded_at"],
            "source_event_id": item["source_event_id"],
        }


class CrmContactSync:
    """Mirrors users who consented to marketing into the CRM contact table."""

    def __init__(self, table: Any) -> None:
        self._store = _VersionedUserTable(table)

    def handle(self, event: CloudEvent) -> bool:
        if event.type != USER_CREATED:
            return False
        data = event.data
        if not data.get("consents", {}).get("marketing"):
            # The filter policy should never deliver these; never store them.
            return False
        return self._store.create(
            event,
            {
                "name": data["name"],
                "lastname": data["lastname"],
                "email": data["email"],
                "address": data["address"],
                "marketing_consent": True,
                "synced_at": event.to_dict()["time"],
            },
        )

    def view(self, user_id: str) -> dict[str, Any]:
        """The CRM contact; NotFound if none (also when there is no marketing consent)."""
        item = self._store.get(user_id)
        if item is None:
            raise NotFound(f"no CRM contact for user {user_id}")
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

    def __init__(self, sqs: Any, consumer: UserEventConsumer) -> None:
        self._sqs = sqs
        self._consumer = consumer
        self._queue_urls: dict[str, str] = {}

    def process(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Apply every record; raises BatchItemFailures after deleting the successes."""
        succeeded: list[Mapping[str, Any]] = []
        failed: list[Mapping[str, Any]] = []
        applied = duplicates = 0
        for record in records:
            try:
                if self._consumer.handle(parse_event(record["body"])):
                    applied += 1
                else:
                    duplicates += 1
                succeeded.append(record)
            except Exception as exc:
                # Poison, out-of-order or a transient error alike: only this
                # message goes back to the queue.
                logger.warning("message %s failed: %s", record.get("messageId"), exc)
                failed.append(record)
        if failed:
            self._delete(succeeded)
            raise BatchItemFailures([str(r.get("messageId")) for r in failed])
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
