"""GET /accounts/{id}/statements/{yyyy-mm}: shape, errors, access, and the read model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_models import ReadModelStore
from tests.handler.helpers import post_json, register


@pytest.fixture(autouse=True)
def _ada_registered(client: Any) -> None:
    """GIVEN ada (the default client) is a registered user."""
    register(client)


def _account_with_movements(client: Any) -> str:
    response = post_json(client, "/accounts", {"currency": "EUR"})
    assert response.status_code == 201, response.body
    account_id = str(response.json_body["id"])
    assert post_json(client, f"/accounts/{account_id}/deposits", {"amount": 100}).status_code == 201
    assert post_json(client, f"/accounts/{account_id}/withdrawals", {"amount": "30.5"}).status_code
    return account_id


def _this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _next_month() -> str:
    now = datetime.now(UTC)
    return f"{now.year + now.month // 12:04d}-{now.month % 12 + 1:02d}"


def _previous_month() -> str:
    now = datetime.now(UTC)
    return f"{now.year - (now.month == 1):04d}-{(now.month - 2) % 12 + 1:02d}"


def test_the_statement_of_this_month_totals_its_movements(client: Any) -> None:
    # GIVEN an account opened this month with a deposit and a withdrawal (not projected yet)
    account_id = _account_with_movements(client)
    # WHEN its statement of this month is read
    response = client.http.get(f"/accounts/{account_id}/statements/{_this_month()}")
    # THEN it totals them, and its closing balance is the account's balance
    assert response.status_code == 200, response.body
    assert response.json_body == {
        "account_id": account_id,
        "month": _this_month(),
        "currency": "EUR",
        "opening_balance": "0.00",
        "deposits": "100.00",
        "withdrawals": "30.50",
        "closing_balance": "69.50",
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    at = client.http.get(f"/accounts/{account_id}?at={now}")
    assert at.json_body["balance"] == response.json_body["closing_balance"]


def test_a_later_month_without_events_carries_the_balance(client: Any) -> None:
    account_id = _account_with_movements(client)
    response = client.http.get(f"/accounts/{account_id}/statements/{_next_month()}")
    assert response.status_code == 200
    body = response.json_body
    assert (body["opening_balance"], body["closing_balance"]) == ("69.50", "69.50")
    assert (body["deposits"], body["withdrawals"]) == ("0.00", "0.00")


def test_a_month_before_the_opening_is_404(client: Any) -> None:
    account_id = _account_with_movements(client)
    response = client.http.get(f"/accounts/{account_id}/statements/{_previous_month()}")
    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "202601", "2026-01-01", "next", "0000-01"])
def test_a_malformed_month_is_400_in_the_error_shape(client: Any, month: str) -> None:
    account_id = _account_with_movements(client)
    response = client.http.get(f"/accounts/{account_id}/statements/{month}")
    assert response.status_code == 400
    assert response.json_body["error"] == "validation_error"
    assert response.json_body["details"] == [
        {"field": "month", "message": "must be a month as yyyy-mm"}
    ]


def test_an_unknown_account_is_404(client: Any) -> None:
    response = client.http.get(f"/accounts/nope/statements/{_this_month()}")
    assert response.status_code == 404


def test_only_the_owner_or_an_admin_reads_it(
    client: Any, admin: Any, as_caller: Callable[..., Any]
) -> None:
    # GIVEN ada's account
    account_id = _account_with_movements(client)
    path = f"/accounts/{account_id}/statements/{_this_month()}"
    # WHEN bob asks THEN it is 404 as an unknown account, for a valid or a malformed month
    bob = as_caller("bob")
    register(bob)
    assert bob.http.get(path).status_code == 404
    assert bob.http.get(f"/accounts/{account_id}/statements/bad").status_code == 404
    # AND an admin reads it
    assert admin.http.get(path).json_body["closing_balance"] == "69.50"


def test_the_projector_keeps_the_statements_item_and_reads_agree(client: Any) -> None:
    # GIVEN an account's events projected by the projector Lambda (twice: at least once)
    account_id = _account_with_movements(client)
    events = client.http.get(f"/accounts/{account_id}/events").json_body["events"]
    bodies = [json.dumps(e).encode() + b"\n" for e in events]
    for _ in range(2):
        client.lambda_.invoke("projector", client.events.generate_kinesis_event(bodies))
    # THEN the statements item holds them once
    store = ReadModelStore(boto3.resource("dynamodb").Table(os.environ["READ_MODELS_TABLE"]))
    stored = store.load(read_model("statements"), account_id)
    assert stored is not None and stored.positions == {account_id: 3}
    assert stored.state.current.closing_cents == 6950
    # AND a later deposit not projected yet is in the statement all the same
    post_json(client, f"/accounts/{account_id}/deposits", {"amount": "0.50"})
    body = client.http.get(f"/accounts/{account_id}/statements/{_this_month()}").json_body
    assert (body["deposits"], body["closing_balance"]) == ("100.50", "70.00")
