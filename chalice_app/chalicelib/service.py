"""Composition root: builds the domain objects from settings and boto3 getters.

``app.py`` calls one function of this module per route or event handler.
Tests reset the getters with ``aws.reset()`` and point them at moto.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib import aws
from chalicelib.consumers import (
    CrmContactSync,
    GdprConsentRecord,
    LoyaltyEnrolment,
    SqsBatchProcessor,
    UserEventConsumer,
)
from chalicelib.exceptions import NotFound
from chalicelib.fanout import UserEventFanout
from chalicelib.http import parse_body
from chalicelib.relay import LedgerRelay, ledger_inserts
from chalicelib.settings import get_settings
from chalicelib.users import RegisterUser, UserRegistry

__all__ = [
    "consume_user_events",
    "crm_contact",
    "fan_out_user_events",
    "gdpr_consents",
    "get_user",
    "loyalty_status",
    "register_user",
    "relay_ledger_records",
]


def _users() -> UserRegistry:
    return UserRegistry(aws.table("users"), aws.table("ledger"))


def register_user(raw_body: bytes | str | None) -> dict[str, Any]:
    """Validate and register a user; returns the created user."""
    request = parse_body(raw_body, RegisterUser)
    user, _event = _users().register(request)
    return user


def get_user(user_id: str) -> dict[str, Any]:
    return _users().get(user_id)


def loyalty_status(user_id: str) -> dict[str, Any]:
    """``{"user_id","enrolled","points","tier"}``; NotFound for an unknown user."""
    enrolment = LoyaltyEnrolment(aws.table("loyalty_enrolments")).get(user_id)
    if enrolment is None and not _users().exists(user_id):
        raise NotFound(f"user {user_id} not found")
    return {
        "user_id": user_id,
        "enrolled": bool(enrolment and enrolment.get("enrolled")),
        "points": 0,
        "tier": "bronze",
    }


def gdpr_consents(user_id: str) -> dict[str, Any]:
    return GdprConsentRecord(aws.table("gdpr_consents")).view(user_id)


def crm_contact(user_id: str) -> dict[str, Any]:
    return CrmContactSync(aws.table("crm_contacts")).view(user_id)


def relay_ledger_records(records: Iterable[Mapping[str, Any]]) -> int:
    """Forward the ledger inserts of a DynamoDB stream batch to Kinesis."""
    relay = LedgerRelay(aws.client("kinesis"), get_settings().event_stream)
    return relay.forward(ledger_inserts(records))


def fan_out_user_events(raw_records: list[bytes]) -> int:
    """Publish the user events of a Kinesis batch to the SNS topic."""
    fanout = UserEventFanout(aws.client("sns"), get_settings().user_events_topic_arn)
    return fanout.publish(raw_records)


_CONSUMERS: dict[str, tuple[type[Any], str]] = {
    "loyalty": (LoyaltyEnrolment, "loyalty_enrolments"),
    "gdpr": (GdprConsentRecord, "gdpr_consents"),
    "crm": (CrmContactSync, "crm_contacts"),
}


def consume_user_events(consumer_key: str, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Run the consumer declared as ``consumer_key`` over an SQS batch."""
    consumer_cls, table_key = _CONSUMERS[consumer_key]
    consumer: UserEventConsumer = consumer_cls(aws.table(table_key))
    return SqsBatchProcessor(aws.client("sqs"), consumer).process(records)
