"""The welcome email subscriber, driven with Lambda-shaped SQS events against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.entrypoints.roots import subscribers
from chalicelib.service.welcome_email import SUBJECT
from local_aws.token_signer import TokenSigner
from tests.conftest import REGION
from tests.handler.helpers import (
    consume,
    drain,
    post_json,
    sqs_failures,
    table_items,
    user_body,
)


@pytest.fixture
def outbox(aws_env: dict[str, str]) -> Iterator[list[Any]]:
    """GIVEN the messages moto's SES records as sent (moto's internal API)."""
    yield ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def _created_event(client: Any, aws_env: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Register a person; the SQS event that delivers their user.created to the subscriber."""
    response = post_json(client, "/users", user_body(**overrides))
    assert response.status_code == 201, response.body
    user_id = response.json_body["id"]
    (item,) = [i for i in table_items(aws_env["LEDGER_TABLE"]) if i["aggregate_id"] == user_id]
    return dict(
        client.events.generate_sqs_event(
            message_bodies=[item["event"]], queue_name=aws_env["WELCOME_QUEUE"]
        )
    )


def _subject(event: dict[str, Any]) -> str:
    return str(json.loads(event["Records"][0]["body"])["subject"])


def test_a_new_user_gets_one_templated_email(
    client: Any, identity_pool: TokenSigner, aws_env: dict[str, str], outbox: list[Any]
) -> None:
    # GIVEN a registered person's user.created event (her identity's email is grace@)
    identity_pool.set_email(client.sub, "grace@example.com")
    event = _created_event(client, aws_env, name="Grace")
    # WHEN the subscriber receives it
    consume(client, "welcome_email", event)
    # THEN one email went from the sender to the opened address, greeting them by name
    (message,) = outbox
    assert message.source == aws_env["EMAIL_SENDER"]
    assert message.destinations["ToAddresses"] == ["grace@example.com"]
    assert message.subject == SUBJECT
    assert "Hello Grace," in message.body
    # AND the send is recorded for that user and version, without personal data
    (record,) = table_items(aws_env["WELCOME_EMAILS_TABLE"])
    assert (record["status"], record["version"], record["message_id"]) == ("sent", 1, message.id)
    assert "grace" not in repr(record).lower()
    # AND ops see where the subscriber stands for that person
    position = subscribers.subscriber_consumer("welcome").position(record["user_id"])
    assert position == {"version": 1, "last_event_id": record["event_id"]}


def test_redelivery_never_sends_twice(
    client: Any, aws_env: dict[str, str], outbox: list[Any]
) -> None:
    # GIVEN a user.created event delivered once
    event = _created_event(client, aws_env)
    consume(client, "welcome_email", event)
    # WHEN the same message is delivered again, twice in one batch and once more
    body = event["Records"][0]["body"]
    twice = client.events.generate_sqs_event(
        message_bodies=[body, body], queue_name=aws_env["WELCOME_QUEUE"]
    )
    consume(client, "welcome_email", twice)
    consume(client, "welcome_email", event)
    # THEN the person still got exactly one email
    assert len(outbox) == 1


def test_an_erased_user_gets_no_email(
    client: Any, aws_env: dict[str, str], outbox: list[Any]
) -> None:
    # GIVEN a person who was erased before their user.created reached the subscriber
    event = _created_event(client, aws_env)
    assert post_json(client, f"/gdpr/erasure/{_subject(event)}", {}).status_code == 202
    # WHEN the subscriber receives the event
    consume(client, "welcome_email", event)
    # THEN nothing was sent, and the record says why
    assert outbox == []
    (record,) = table_items(aws_env["WELCOME_EMAILS_TABLE"])
    assert record["status"] == "erased"


def test_a_refused_send_is_retried_and_then_sent_once(
    client: Any, aws_env: dict[str, str], outbox: list[Any]
) -> None:
    # GIVEN SES refuses the sender (its identity is not verified)
    ses = boto3.client("sesv2")
    ses.delete_email_identity(EmailIdentity=aws_env["EMAIL_SENDER"])
    event = _created_event(client, aws_env)
    # WHEN the subscriber receives the event
    failed = sqs_failures(client, "welcome_email", event)
    # THEN the message fails (SQS will redeliver it) and no send is recorded
    assert failed == [event["Records"][0]["messageId"]]
    assert outbox == [] and table_items(aws_env["WELCOME_EMAILS_TABLE"]) == []
    # AND once the identity is verified, the redelivery sends exactly one email
    ses.create_email_identity(EmailIdentity=aws_env["EMAIL_SENDER"])
    consume(client, "welcome_email", event)
    consume(client, "welcome_email", event)
    assert len(outbox) == 1


def test_only_user_created_events_reach_the_welcome_queue(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a registered and then erased person, whose events are fanned out
    event = _created_event(client, aws_env)
    post_json(client, f"/gdpr/erasure/{_subject(event)}", {})
    bodies = [i["event"].encode() + b"\n" for i in table_items(aws_env["LEDGER_TABLE"])]
    # WHEN the fan-out publishes both events
    client.lambda_.invoke(
        "user_events_fanout", client.events.generate_kinesis_event(message_bodies=bodies)
    )
    # THEN the welcome queue holds the user.created only
    received = drain(aws_env["WELCOME_QUEUE"])
    assert [m["MessageAttributes"]["type"]["StringValue"] for m in received] == [
        "com.example.user.created"
    ]
