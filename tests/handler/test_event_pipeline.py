"""Relay, fan-out and the three consumers, driven with Lambda-shaped events."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest

from chalicelib.domain.events import UserCreated, new_event
from chalicelib.domain.exceptions import InvalidEvent
from tests.handler.helpers import (
    consume,
    drain,
    post_json,
    queue_url,
    sqs_failures,
    table_items,
    user_body,
)


def _ledger_stream_event(env: dict[str, str]) -> dict[str, Any]:
    """The ledger's stream records as a Lambda DynamoDB-stream event."""
    streams = boto3.client("dynamodbstreams")
    description = streams.describe_stream(StreamArn=env["LEDGER_STREAM_ARN"])["StreamDescription"]
    records: list[dict[str, Any]] = []
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=env["LEDGER_STREAM_ARN"],
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    for record in records:
        record["eventSourceARN"] = env["LEDGER_STREAM_ARN"]
    return {"Records": records}


def _stream_data(env: dict[str, str]) -> list[bytes]:
    kinesis = boto3.client("kinesis")
    data: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=env["EVENT_STREAM"])["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=env["EVENT_STREAM"],
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        data += [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
    return data


def _register(client: Any, **overrides: Any) -> dict[str, Any]:
    response = post_json(client, "/users", user_body(**overrides))
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def _user_event(loyalty: bool, marketing: bool, user_id: str = "u-1", version: int = 1) -> str:
    data = UserCreated(
        user_id=user_id,
        name="Grace",
        lastname="Hopper",
        email=f"{user_id}@example.com",
        address="Arlington",
        loyalty=loyalty,
        marketing=marketing,
    )
    return new_event(data, subject=user_id, version=version).to_json().decode()


def test_relay_puts_each_ledger_event_on_the_stream(
    client: Any, as_caller: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN two registrations committed to the ledger
    ids = {_register(as_caller(f"u{i}"), email=f"u{i}@example.com")["id"] for i in range(2)}
    # WHEN the relay receives the ledger's stream records
    client.lambda_.invoke("ledger_relay", _ledger_stream_event(aws_env))
    # THEN each event is on Kinesis as one newline-terminated CloudEvent JSON line
    data = _stream_data(aws_env)
    assert all(d.endswith(b"\n") and d.count(b"\n") == 1 for d in data)
    assert {json.loads(d)["subject"] for d in data} == ids


@pytest.mark.parametrize(
    ("loyalty", "marketing", "expected"),
    [
        (True, True, {"loyalty", "gdpr", "crm"}),
        (True, False, {"loyalty", "gdpr"}),
        (False, True, {"gdpr", "crm"}),
        (False, False, {"gdpr"}),
    ],
)
def test_fanout_routes_by_filter_policy(
    client: Any, aws_env: dict[str, str], loyalty: bool, marketing: bool, expected: set[str]
) -> None:
    # GIVEN a user.created event on the stream
    body = _user_event(loyalty, marketing).encode() + b"\n"
    # WHEN the fan-out handler receives it
    client.lambda_.invoke(
        "user_events_fanout", client.events.generate_kinesis_event(message_bodies=[body])
    )
    # THEN exactly the queues whose filter policy matches hold the raw CloudEvent
    queues = {"loyalty": "LOYALTY_QUEUE", "gdpr": "GDPR_QUEUE", "crm": "CRM_QUEUE"}
    received = {key: drain(aws_env[var]) for key, var in queues.items()}
    assert {key for key, messages in received.items() if messages} == expected
    (message,) = received["gdpr"]
    assert json.loads(message["Body"])["type"] == "com.example.user.created"


def test_fanout_skips_non_user_events(client: Any, aws_env: dict[str, str]) -> None:
    event = json.loads(_user_event(True, True))
    event["type"] = "com.example.account.opened"
    event["data"] = {"account_id": "a-1", "owner_id": "u-1", "currency": "EUR"}
    client.lambda_.invoke(
        "user_events_fanout",
        client.events.generate_kinesis_event(message_bodies=[json.dumps(event).encode()]),
    )
    assert drain(aws_env["GDPR_QUEUE"]) == []


def test_fanout_fails_on_a_poison_record(client: Any) -> None:
    # WHEN a record is not a CloudEvent, the invocation fails (the mapping retries it)
    with pytest.raises(InvalidEvent):
        client.lambda_.invoke(
            "user_events_fanout", client.events.generate_kinesis_event(message_bodies=[b"{oops"])
        )


CONSUMERS = [
    ("loyalty_enrolment", "LOYALTY_QUEUE", "LOYALTY_ENROLMENTS_TABLE"),
    ("gdpr_consent_record", "GDPR_QUEUE", "GDPR_CONSENTS_TABLE"),
    ("crm_contact_sync", "CRM_QUEUE", "CRM_CONTACTS_TABLE"),
]


@pytest.mark.parametrize(("handler", "queue_var", "table_var"), CONSUMERS)
def test_consumer_is_idempotent_under_redelivery(
    client: Any, aws_env: dict[str, str], handler: str, queue_var: str, table_var: str
) -> None:
    # GIVEN a user event delivered once
    event = client.events.generate_sqs_event(
        message_bodies=[_user_event(True, True)], queue_name=aws_env[queue_var]
    )
    consume(client, handler, event)
    (first,) = table_items(aws_env[table_var])
    # WHEN the same message is delivered again (twice in one batch, and once more)
    twice = client.events.generate_sqs_event(
        message_bodies=[event["Records"][0]["body"]] * 2, queue_name=aws_env[queue_var]
    )
    consume(client, handler, twice)
    consume(client, handler, event)
    # THEN the record is unchanged
    assert table_items(aws_env[table_var]) == [first]
    assert first["user_id"] == "u-1" and first["version"] == 1


def test_consumer_views_over_http(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a registered user whose event reached all three consumers
    user = _register(client)
    (item,) = table_items(aws_env["LEDGER_TABLE"])
    for handler, queue_var, _ in CONSUMERS:
        consume(
            client,
            handler,
            client.events.generate_sqs_event(
                message_bodies=[item["event"]], queue_name=aws_env[queue_var]
            ),
        )
    # THEN the three read endpoints answer for that user
    loyalty = client.http.get(f"/loyalty/{user['id']}").json_body
    assert loyalty == {"user_id": user["id"], "enrolled": True, "points": 0, "tier": "bronze"}
    consents = client.http.get(f"/gdpr/consents/{user['id']}").json_body
    assert consents["consents"] == {"marketing": True} and consents["marketing"] is True
    contact = client.http.get(f"/crm/contacts/{user['id']}").json_body
    assert (contact["email"], contact["name"]) == ("ada@example.com", "Ada")


def test_consumer_views_404(client: Any, admin: Any) -> None:
    # GIVEN a user not yet (or never) seen by the consumers, and an unknown id
    user = _register(client, consents={"marketing": False}, loyalty=False)
    assert client.http.get(f"/loyalty/{user['id']}").json_body["enrolled"] is False
    assert client.http.get(f"/crm/contacts/{user['id']}").status_code == 404
    for path in ("/loyalty/nobody", "/gdpr/consents/nobody", "/crm/contacts/nobody"):
        assert admin.http.get(path).status_code == 404


def _received_batch(client: Any, queue_name: str) -> dict[str, Any]:
    """An SQS event built from really received messages (real receipt handles)."""
    messages = drain(queue_name)
    event = client.events.generate_sqs_event(
        message_bodies=[m["Body"] for m in messages], queue_name=queue_name
    )
    arn = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(queue_name), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    for record, message in zip(event["Records"], messages, strict=True):
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            eventSourceARN=arn,
        )
    return event


def _poll(client: Any, handler: str, queue_name: str) -> list[str]:
    """One poll of ``handler``'s event source mapping, as Lambda makes it.

    The received batch goes to the handler; the mapping (ReportBatchItemFailures)
    deletes every message but those the handler reports, whose visibility timeout
    is then made to pass. Returns the bodies of the reported messages.
    """
    sqs, url = boto3.client("sqs"), queue_url(queue_name)
    event = _received_batch(client, queue_name)
    failed = sqs_failures(client, handler, event)
    for record in event["Records"]:
        if record["messageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return [r["body"] for r in event["Records"] if r["messageId"] in failed]


def test_partial_batch_failure_returns_only_the_poison(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a batch of two good events and one poison message on the GDPR queue
    sqs = boto3.client("sqs")
    url = queue_url(aws_env["GDPR_QUEUE"])
    for body in (_user_event(False, False, "u-1"), "{poison", _user_event(False, False, "u-2")):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    event = _received_batch(client, aws_env["GDPR_QUEUE"])
    assert len(event["Records"]) == 3
    # WHEN the consumer processes the batch
    failed = sqs_failures(client, "gdpr_consent_record", event)
    # THEN the invocation reports the poison alone, and the good ones were applied
    assert failed == [event["Records"][1]["messageId"]]
    assert {i["user_id"] for i in table_items(aws_env["GDPR_CONSENTS_TABLE"])} == {"u-1", "u-2"}


def test_poison_message_reaches_the_dlq(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a poison message beside a good one on the loyalty queue (maxReceiveCount 3)
    sqs = boto3.client("sqs")
    url = queue_url(aws_env["LOYALTY_QUEUE"])
    sqs.send_message(QueueUrl=url, MessageBody="not an event")
    sqs.send_message(QueueUrl=url, MessageBody=_user_event(True, False, "u-9"))
    # WHEN every delivery of the poison fails (and its visibility timeout expires)
    for _ in range(3):
        assert _poll(client, "loyalty_enrolment", aws_env["LOYALTY_QUEUE"]) == ["not an event"]
    # THEN the good message was applied once and deleted, the poison is in the DLQ
    assert [i["user_id"] for i in table_items(aws_env["LOYALTY_ENROLMENTS_TABLE"])] == ["u-9"]
    assert drain(aws_env["LOYALTY_QUEUE"]) == []
    (dead,) = drain(f"{aws_env['LOYALTY_QUEUE']}-dlq")
    assert dead["Body"] == "not an event"


def test_out_of_order_event_fails_for_retry(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN version 2 of a user arrives before version 1
    event = client.events.generate_sqs_event(
        message_bodies=[_user_event(True, True, version=2)], queue_name=aws_env["LOYALTY_QUEUE"]
    )
    # WHEN the consumer receives it
    failed = sqs_failures(client, "loyalty_enrolment", event)
    # THEN the message fails and nothing is applied
    assert failed == [event["Records"][0]["messageId"]]
    assert table_items(aws_env["LOYALTY_ENROLMENTS_TABLE"]) == []


def test_kinesis_payload_base64_roundtrip(client: Any) -> None:
    # The test client's kinesis event encodes data like Lambda does.
    event = client.events.generate_kinesis_event(message_bodies=[b"x"])
    assert base64.b64decode(event["Records"][0]["kinesis"]["data"]) == b"x"
