"""What a registration costs in AWS calls at the hops where calls were cut."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import aws
from chalicelib.adapters.personal_data import forget_all_keys
from chalicelib.domain.events import UserCreated, new_event
from local_aws.call_counter import CallCounter
from tests.handler.helpers import register


def _counter() -> CallCounter:
    counter = CallCounter()
    counter.attach(aws.client("kms"))
    counter.attach(aws.table("ledger").meta.client)
    return counter


def test_registration_opens_its_response_without_a_kms_round_trip(client: Any) -> None:
    # GIVEN a counter on the API's KMS and DynamoDB clients
    counter = _counter()
    # WHEN a person registers
    user = register(client)
    # THEN the response is opened with the key the registration committed: one KMS call
    assert user["name"] == "Ada"
    tally = CallCounter.tally(counter.reset())
    assert tally["kms:GenerateDataKey"] == 1
    assert "kms:Decrypt" not in tally


def test_a_consumer_reads_a_users_record_once_per_event(client: Any) -> None:
    # GIVEN a registration event for a user the loyalty consumer has not seen
    event = new_event(
        UserCreated(
            user_id="u-9",
            name="Grace",
            lastname="Hopper",
            email="u-9@example.com",
            address="Arlington",
            loyalty=True,
            marketing=False,
        ),
        subject="u-9",
        version=1,
    )
    counter = _counter()
    forget_all_keys()
    # WHEN the loyalty consumer receives it
    client.lambda_.invoke(
        "loyalty_enrolment",
        client.events.generate_sqs_event(
            queue_name="loyalty", message_bodies=[event.to_json().decode()]
        ),
    )
    # THEN it read the user's record once and wrote it once
    tally = CallCounter.tally(counter.reset())
    assert tally == {"dynamodb:GetItem": 1, "dynamodb:PutItem": 1}
