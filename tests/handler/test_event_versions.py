"""Both versions of ``user.created`` on the stream: a registration archived before v2 still flows.

Events written before a type's latest version stay on the stream (Kinesis
keeps up to 365 days) and in the archive. The fan-out publishes them as the
current version, with the same routing, and the consumers apply them alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.events import USER_CREATED
from projections.catalogue import schema_uri
from tests.handler.helpers import drain, table_items

QUEUES = {"loyalty": "LOYALTY_QUEUE", "gdpr": "GDPR_QUEUE", "crm": "CRM_QUEUE"}


def _v1_user_created(user_id: str, *, loyalty: bool, marketing: bool) -> bytes:
    """A registration as the platform wrote it before version 2 (no dataschema)."""
    event = {
        "specversion": "1.0",
        "id": f"{user_id}-created",
        "source": "/users",
        "type": USER_CREATED,
        "time": "2026-11-27T10:00:00.000000Z",
        "subject": user_id,
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": {
            "user_id": user_id,
            "name": "Grace",
            "lastname": "Hopper",
            "email": f"{user_id}@example.com",
            "address": "Arlington",
            "loyalty": loyalty,
            "consents": {"marketing": marketing},
        },
    }
    return json.dumps(event).encode() + b"\n"


@pytest.mark.parametrize(
    ("loyalty", "marketing", "expected"),
    [(True, True, {"loyalty", "gdpr", "crm"}), (False, False, {"gdpr"})],
)
def test_a_version_1_registration_on_the_stream_is_routed_and_published_as_version_2(
    client: Any, aws_env: dict[str, str], loyalty: bool, marketing: bool, expected: set[str]
) -> None:
    # GIVEN a version 1 user.created still on the stream
    body = _v1_user_created("u-old", loyalty=loyalty, marketing=marketing)
    # WHEN the fan-out handler receives it
    client.lambda_.invoke(
        "user_events_fanout", client.events.generate_kinesis_event(message_bodies=[body])
    )
    # THEN the queues its flags select get it, as version 2
    received = {key: drain(aws_env[var]) for key, var in QUEUES.items()}
    assert {key for key, messages in received.items() if messages} == expected
    (message,) = received["gdpr"]
    published = json.loads(message["Body"])
    assert published["dataschema"] == schema_uri(USER_CREATED, 2)
    assert published["data"]["marketing"] is marketing
    assert "consents" not in published["data"]


def test_consumers_apply_a_version_1_registration_as_they_apply_version_2(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a version 1 registration with marketing consent, delivered to the consumers
    body = _v1_user_created("u-old", loyalty=True, marketing=True).decode()
    for handler, queue in (
        ("gdpr_consent_record", "GDPR_QUEUE"),
        ("loyalty_enrolment", "LOYALTY_QUEUE"),
        ("crm_contact_sync", "CRM_QUEUE"),
    ):
        event = client.events.generate_sqs_event(message_bodies=[body], queue_name=aws_env[queue])
        client.lambda_.invoke(handler, event)
    # THEN the consent register holds the consent, the enrolment and the CRM contact exist
    (consents,) = table_items(aws_env["GDPR_CONSENTS_TABLE"])
    assert [e["marketing"] for e in consents["history"]] == [True]
    (enrolment,) = table_items(aws_env["LOYALTY_ENROLMENTS_TABLE"])
    assert enrolment["enrolled"] is True
    (contact,) = table_items(aws_env["CRM_CONTACTS_TABLE"])
    assert contact["marketing_consent"] is True and contact["name"] == "Grace"
