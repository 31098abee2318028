"""An erasure between the search transform and the delivery leaves no personal data indexed.

Firehose opens a document (search_transform) and delivers it later, after its
destination buffer and retries. The erasure's first redaction pass
(search_erasure) cannot see a document not delivered yet; the second pass
(search_late_redaction, fed by a delay queue as long as that window) can.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.adapters.personal_data import REDACTED
from chalicelib.adapters.search.query import SearchQuery
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from chalicelib.entrypoints.roots.search import search_index
from tests.handler.helpers import post_json, queue_url, register


def _created_event(env: dict[str, str], user_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(env["LEDGER_TABLE"])
    item = table.get_item(Key={"aggregate_id": user_id, "version": 1})["Item"]
    return dict(json.loads(str(item["event"])))


def _erased_event(env: dict[str, str], user_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(env["LEDGER_TABLE"])
    item = table.get_item(Key={"aggregate_id": user_id, "version": 2})["Item"]
    return dict(json.loads(str(item["event"])))


def _transform(client: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
    """What search_transform hands back to Firehose for ``event`` (the opened documents)."""
    records = [{"recordId": "0", "data": base64.b64encode(json.dumps(event).encode()).decode()}]
    payload = client.lambda_.invoke(
        "search_transform", {"invocationId": "inv-1", "records": records}
    ).payload
    return [json.loads(base64.b64decode(r["data"])) for r in payload["records"]]


def _search_text(admin: Any, subject: str) -> str:
    response = admin.http.get(f"/search?subject={subject}")
    assert response.status_code == 200
    return json.dumps(response.json_body)


def _shorten_delay(seconds: int) -> str:
    """The redaction queue with a delay short enough for a test; its URL."""
    url = queue_url(resources.resource_name("evp", resources.SEARCH_LATE_REDACTION.suffix))
    boto3.client("sqs").set_queue_attributes(
        QueueUrl=url, Attributes={"DelaySeconds": str(seconds)}
    )
    return url


def _receive(url: str, wait_seconds: int) -> list[dict[str, Any]]:
    response = boto3.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
    )
    return [dict(m) for m in response.get("Messages", [])]


@pytest.mark.usefixtures("sqlite_search_index")
def test_a_document_delivered_after_the_erasure_is_redacted_by_the_late_pass(
    client: Any, admin: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a registered person whose user.created the transform opened, and Firehose
    # holds the opened document in its destination buffer
    user = register(client)
    opened = _transform(client, _created_event(aws_env, user["id"]))
    assert opened[0]["data"]["name"] == "Ada"
    url = _shorten_delay(1)
    # WHEN the person is erased and search_erasure redacts what is indexed (nothing yet)
    assert post_json(client, f"/gdpr/erasure/{user['id']}", {}).status_code == 202
    erased = _erased_event(aws_env, user["id"])
    kinesis = client.events.generate_kinesis_event(message_bodies=[json.dumps(erased).encode()])
    client.lambda_.invoke("search_erasure", kinesis)
    # AND only then Firehose delivers the opened document
    search_index().index_events(opened)
    assert "ada@example.com" in _search_text(admin, user["id"])
    # AND the erasure, held back by the delay queue, reaches the late pass
    assert _receive(url, 0) == []
    (message,) = _receive(url, 5)
    sqs_event = client.events.generate_sqs_event(
        message_bodies=[message["Body"]], queue_name=aws_env["SEARCH_REDACTION_QUEUE"]
    )
    client.lambda_.invoke("search_late_redaction", sqs_event)
    # THEN an admin's search finds the person's registration with no name, lastname or email
    found = admin.http.get(f"/search?subject={user['id']}").json_body["events"]
    (document,) = [e for e in found if e["type"] == "com.example.user.created"]
    assert {document["data"][f] for f in ("name", "lastname", "email", "address")} == {REDACTED}
    text = _search_text(admin, user["id"])
    assert "ada@example.com" not in text and "Lovelace" not in text


def test_the_redaction_queue_delays_by_the_search_delivery_window(
    aws_env: dict[str, str],
) -> None:
    # GIVEN the provisioned redaction queue and the declared search delivery
    url = queue_url(aws_env["SEARCH_REDACTION_QUEUE"])
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["DelaySeconds", "RedrivePolicy"]
    )["Attributes"]
    delivery = resources.SEARCH_DELIVERY
    # WHEN comparing its delay with the transform timeout, buffer and retry duration
    window = (
        delivery.transform_timeout_seconds
        + delivery.buffering_interval_seconds
        + delivery.retry_duration_seconds
    )
    # THEN the delay covers the whole window (plus the margin), within what SQS allows
    expected = window + resources.SEARCH_LATE_REDACTION.margin_seconds
    assert int(attributes["DelaySeconds"]) == expected <= 900
    # AND a message failing its redaction ends in the queue's DLQ
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(
        resources.SEARCH_LATE_REDACTION.dlq_suffix
    )


def test_a_window_sqs_cannot_delay_is_refused() -> None:
    # GIVEN the late redaction declaration
    spec = resources.SEARCH_LATE_REDACTION
    # WHEN a delivery window longer than SQS's longest delay is asked for
    # THEN it is refused rather than silently shortened
    with pytest.raises(ValueError, match="at most 900s"):
        spec.delay_seconds(900)


@pytest.mark.usefixtures("sqlite_search_index")
def test_search_erasure_schedules_nothing_without_an_erasure(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a registration on the stream
    user = register(client)
    kinesis = client.events.generate_kinesis_event(
        message_bodies=[json.dumps(_created_event(aws_env, user["id"])).encode()]
    )
    url = _shorten_delay(0)
    # WHEN search_erasure processes it
    client.lambda_.invoke("search_erasure", kinesis)
    # THEN no late redaction is scheduled
    assert _receive(url, 0) == []


def test_the_late_pass_redacts_what_the_first_pass_left(
    client: Any, sqlite_search_index: SqliteSearchIndex, aws_env: dict[str, str]
) -> None:
    # GIVEN an opened registration document indexed after the person's key was deleted
    user = register(client)
    opened = _transform(client, _created_event(aws_env, user["id"]))
    post_json(client, f"/gdpr/erasure/{user['id']}", {})
    sqlite_search_index.index_events(opened)
    # WHEN the late pass gets the erasure twice (SQS delivers at least once)
    erased = json.dumps(_erased_event(aws_env, user["id"]))
    sqs_event = client.events.generate_sqs_event(
        message_bodies=[erased, erased], queue_name=aws_env["SEARCH_REDACTION_QUEUE"]
    )
    client.lambda_.invoke("search_late_redaction", sqs_event)
    # THEN the document is redacted
    (document,) = sqlite_search_index.search(SearchQuery(subject=user["id"])).events
    assert document["data"]["email"] == REDACTED
