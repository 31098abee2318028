"""End to end: registrations over HTTP fan out to the three consumers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def http(auth_headers: AuthHeaders) -> Iterator[requests.Session]:
    """An operator's session: it reads everyone's consumer views."""
    with requests.Session() as session:
        session.headers.update(auth_headers("fanout-e2e-operator", "admin"))
        yield session


def _register(
    http: requests.Session,
    stack: LocalStackProcess,
    auth_headers: AuthHeaders,
    i: int,
    loyalty: bool,
    marketing: bool,
) -> dict[str, Any]:
    response = http.post(
        f"{stack.api_url}/users",
        headers=auth_headers(f"fanout-e2e-{i}"),
        json={
            "name": f"User{i}",
            "lastname": "E2e",
            "address": f"{i} Loop Road",
            "loyalty": loyalty,
            "consents": {"marketing": marketing},
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _status(http: requests.Session, stack: LocalStackProcess, path: str) -> int:
    return http.get(f"{stack.api_url}{path}").status_code


def test_each_consumer_gets_exactly_the_users_its_filter_selects(
    local_stack: LocalStackProcess, http: requests.Session, auth_headers: AuthHeaders
) -> None:
    # GIVEN 12 users with every combination of loyalty and marketing flags
    users = [
        _register(http, local_stack, auth_headers, i, i % 2 == 0, i % 3 == 0) for i in range(12)
    ]

    # WHEN the fan-out settles
    def settled() -> bool:
        return all(_status(http, local_stack, f"/gdpr/consents/{u['id']}") == 200 for u in users)

    wait_for(settled, timeout=60)
    # THEN loyalty enrolled exactly the loyalty users, CRM has exactly the marketing users
    for user in users:
        loyalty = http.get(f"{local_stack.api_url}/loyalty/{user['id']}").json()
        crm = _status(http, local_stack, f"/crm/contacts/{user['id']}")
        if user["loyalty"]:
            wait_for(partial(_enrolled, http, local_stack, user["id"]), timeout=30)
        else:
            assert loyalty["enrolled"] is False
        if user["consents"]["marketing"]:
            wait_for(partial(_has_contact, http, local_stack, user["id"]), timeout=30)
        else:
            assert crm == 404


def _enrolled(http: requests.Session, stack: LocalStackProcess, user_id: str) -> bool:
    return bool(http.get(f"{stack.api_url}/loyalty/{user_id}").json()["enrolled"])


def _has_contact(http: requests.Session, stack: LocalStackProcess, user_id: str) -> bool:
    return _status(http, stack, f"/crm/contacts/{user_id}") == 200


def test_duplicate_delivery_changes_nothing(
    local_stack: LocalStackProcess, http: requests.Session, auth_headers: AuthHeaders
) -> None:
    # GIVEN a user whose consent record exists
    user = _register(http, local_stack, auth_headers, 100, False, False)
    path = f"{local_stack.api_url}/gdpr/consents/{user['id']}"
    first = wait_for(lambda: http.get(path).json() if http.get(path).ok else None, timeout=30)
    # WHEN its user.created event is delivered again to the GDPR queue
    ledger = local_stack.client("dynamodb")
    item = ledger.get_item(
        TableName=local_stack.name("ledger"),
        Key={"aggregate_id": {"S": user["id"]}, "version": {"N": "1"}},
    )
    sqs = local_stack.client("sqs")
    url = sqs.get_queue_url(QueueName=local_stack.name("gdpr-consents"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=item["Item"]["event"]["S"])

    # THEN the duplicate is consumed (the queue drains) and the record is unchanged
    def drained() -> bool:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return (
            attrs["ApproximateNumberOfMessages"] == "0"
            and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    wait_for(drained, timeout=30)
    assert http.get(path).json() == first


def test_poison_message_goes_to_the_dlq_and_others_flow(
    local_stack: LocalStackProcess, http: requests.Session, auth_headers: AuthHeaders
) -> None:
    # GIVEN a poison message on the loyalty queue
    sqs = local_stack.client("sqs")
    url = sqs.get_queue_url(QueueName=local_stack.name("loyalty-enrolment"))["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName=local_stack.name("loyalty-enrolment-dlq"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"not": "an event"}))
    # WHEN a real loyalty user registers meanwhile
    user = _register(http, local_stack, auth_headers, 200, True, False)
    # THEN the user is enrolled, and the poison ends in the DLQ after maxReceiveCount
    wait_for(
        lambda: http.get(f"{local_stack.api_url}/loyalty/{user['id']}").json()["enrolled"],
        timeout=30,
    )

    def dead_letters() -> list[dict[str, Any]]:
        return list(sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages", []))

    (dead,) = wait_for(dead_letters, timeout=60)
    assert json.loads(dead["Body"]) == {"not": "an event"}
