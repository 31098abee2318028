"""Accounts and purchases: commands, idempotency, point in time, events."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.service import accounts as account_service
from chalicelib.service.accounts import SnapshotStore
from tests.handler.helpers import post_json, register, table_items, user_body


@pytest.fixture(autouse=True)
def _ada_registered(client: Any) -> None:
    """GIVEN ada (the default client) is a registered user."""
    register(client)


def _open(client: Any, **headers: str) -> dict[str, Any]:
    response = post_json(client, "/accounts", {"currency": "EUR"}, headers)
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def _ledger_count(env: dict[str, str]) -> int:
    return len(table_items(env["LEDGER_TABLE"]))


def test_open_deposit_withdraw_and_read(client: Any) -> None:
    # GIVEN an open account
    account = _open(client)
    assert account["balance"] == "0.00" and account["version"] == 1
    assert set(account) == {"id", "owner_id", "currency", "balance", "version"}
    assert account["owner_id"] == client.sub
    # WHEN money moves in and out
    deposit = post_json(client, f"/accounts/{account['id']}/deposits", {"amount": 100})
    withdrawal = post_json(client, f"/accounts/{account['id']}/withdrawals", {"amount": "30.5"})
    # THEN each answers with its event, version and balance
    assert deposit.status_code == 201
    assert (deposit.json_body["version"], deposit.json_body["balance"]) == (2, "100.00")
    assert (withdrawal.json_body["version"], withdrawal.json_body["balance"]) == (3, "69.50")
    current = client.http.get(f"/accounts/{account['id']}").json_body
    assert current == {**account, "balance": "69.50", "version": 3}
    events = client.http.get(f"/accounts/{account['id']}/events").json_body["events"]
    assert [e["aggregateversion"] for e in events] == [1, 2, 3]
    assert [e["type"].rsplit(".", 1)[1] for e in events] == ["opened", "deposited", "withdrawn"]
    assert events[1]["id"] == deposit.json_body["event_id"]


def test_overdraft_is_409_and_appends_nothing(client: Any, aws_env: dict[str, str]) -> None:
    account = _open(client)
    post_json(client, f"/accounts/{account['id']}/deposits", {"amount": "10.00"})
    before = _ledger_count(aws_env)
    response = post_json(client, f"/accounts/{account['id']}/withdrawals", {"amount": "10.01"})
    assert response.status_code == 409
    assert response.json_body["error"] == "insufficient_funds"
    assert _ledger_count(aws_env) == before


@pytest.mark.parametrize(
    "amount", [0, -5, "0.001", "abc", None, True, [1], "NaN", "Infinity", 1e30, "1e2.5"]
)
def test_bad_amounts_get_400(client: Any, aws_env: dict[str, str], amount: Any) -> None:
    account = _open(client)
    before = _ledger_count(aws_env)
    response = post_json(client, f"/accounts/{account['id']}/deposits", {"amount": amount})
    assert response.status_code == 400
    assert response.json_body["details"][0]["field"] == "amount"
    assert _ledger_count(aws_env) == before


@pytest.mark.parametrize(
    "body", [{"currency": "euro"}, {"owner_id": "", "currency": "EUR"}, {"owner_id": 7}, {}]
)
def test_bad_open_requests_get_400(client: Any, aws_env: dict[str, str], body: Any) -> None:
    before = _ledger_count(aws_env)
    assert post_json(client, "/accounts", body).status_code == 400
    assert _ledger_count(aws_env) == before


@pytest.mark.parametrize("caller", ["client", "admin"])
def test_unknown_account_is_404(request: pytest.FixtureRequest, caller: str) -> None:
    api = request.getfixturevalue(caller)
    assert api.http.get("/accounts/nope").status_code == 404
    assert api.http.get("/accounts/nope/events").status_code == 404
    assert post_json(api, "/accounts/nope/deposits", {"amount": 1}).status_code == 404


def test_idempotency_key_returns_first_response(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a deposit made with an Idempotency-Key
    account = _open(client)
    path = f"/accounts/{account['id']}/deposits"
    first = post_json(client, path, {"amount": 5}, {"Idempotency-Key": "k-1"})
    before = _ledger_count(aws_env)
    # WHEN the same key is sent again with the same body
    again = post_json(client, path, {"amount": 5}, {"Idempotency-Key": "k-1"})
    # THEN the first response comes back and nothing is appended
    assert (again.status_code, again.json_body) == (first.status_code, first.json_body)
    assert _ledger_count(aws_env) == before
    # AND a new key is a new deposit
    other = post_json(client, path, {"amount": 7}, {"Idempotency-Key": "k-2"})
    assert other.json_body["balance"] == "12.00"


def test_idempotent_account_opening_and_registration(client: Any, as_caller: Any) -> None:
    first = _open(client, **{"Idempotency-Key": "open-1"})
    assert _open(client, **{"Idempotency-Key": "open-1"}) == first
    grace = as_caller("grace")
    headers = {"Idempotency-Key": "reg-1"}
    user = post_json(grace, "/users", user_body(email="grace@example.com"), headers)
    again = post_json(grace, "/users", user_body(email="grace@example.com"), headers)
    assert (again.status_code, again.json_body) == (201, user.json_body)


def test_point_in_time(client: Any) -> None:
    # GIVEN deposits before and after an instant T
    account = _open(client)
    post_json(client, f"/accounts/{account['id']}/deposits", {"amount": 10})
    time.sleep(0.01)
    instant = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    post_json(client, f"/accounts/{account['id']}/deposits", {"amount": 5})
    # WHEN the account is read as of T
    at = client.http.get(f"/accounts/{account['id']}?at={instant.replace('+00:00', 'Z')}")
    # THEN only the events up to T count
    assert (at.json_body["balance"], at.json_body["version"]) == ("10.00", 2)
    before_open = client.http.get(f"/accounts/{account['id']}?at=2000-01-01T00:00:00Z")
    assert before_open.status_code == 404
    assert client.http.get(f"/accounts/{account['id']}?at=not-a-time").status_code == 400


def test_purchase_order_id_is_a_natural_key(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a registered user with one purchase
    path = f"/users/{client.sub}/purchases"
    first = post_json(client, path, {"order_id": "o-1", "amount": "19.99", "currency": "EUR"})
    assert first.status_code == 201 and first.json_body["amount"] == "19.99"
    before = _ledger_count(aws_env)
    # WHEN the same order id is posted again
    again = post_json(client, path, {"order_id": "o-1", "amount": "5", "currency": "EUR"})
    # THEN 200 with the first result and nothing appended
    assert (again.status_code, again.json_body) == (200, first.json_body)
    assert _ledger_count(aws_env) == before


def test_purchase_for_unknown_user_is_404(admin: Any) -> None:
    response = post_json(
        admin, "/users/nobody/purchases", {"order_id": "o", "amount": 1, "currency": "EUR"}
    )
    assert response.status_code == 404


def test_projector_keeps_the_read_model_and_reads_catch_up(client: Any) -> None:
    # GIVEN an account with a deposit, projected by the projector Lambda
    account = _open(client)
    post_json(client, f"/accounts/{account['id']}/deposits", {"amount": 40})
    events = client.http.get(f"/accounts/{account['id']}/events").json_body["events"]
    bodies = [json.dumps(e).encode() + b"\n" for e in events]
    client.lambda_.invoke("projector", client.events.generate_kinesis_event(bodies))
    client.lambda_.invoke("projector", client.events.generate_kinesis_event(bodies))  # duplicate
    store = ReadModelStore(boto3.resource("dynamodb").Table(os.environ["READ_MODELS_TABLE"]))
    projected = store.state(read_model("accounts"), account["id"])
    assert projected is not None and projected.to_dict()["balance"] == "40.00"
    # WHEN a later withdrawal has not been projected yet
    post_json(client, f"/accounts/{account['id']}/withdrawals", {"amount": 15})
    # THEN GET still answers with the latest state (read model + ledger tail)
    current = client.http.get(f"/accounts/{account['id']}").json_body
    assert (current["balance"], current["version"]) == ("25.00", 3)


# A short snapshot boundary: the snapshot's round trip through DynamoDB is the same at
# any, and each deposit folds the tail before it; the app's own boundary (SNAPSHOT_EVERY)
# is tests/unit/test_account_commands.py's.
SNAPSHOT_EVERY = 4


def test_snapshots_bound_the_tail_to_fold(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN accounts snapshotted every SNAPSHOT_EVERY versions, and an account past a boundary
    monkeypatch.setattr(account_service, "SNAPSHOT_EVERY", SNAPSHOT_EVERY)
    account = _open(client)
    for _ in range(SNAPSHOT_EVERY):
        post_json(client, f"/accounts/{account['id']}/deposits", {"amount": "1.00"})
    snapshot = SnapshotStore(
        boto3.resource("dynamodb").Table(os.environ["READ_MODELS_TABLE"])
    ).load(account["id"])
    # THEN a snapshot at that version holds the folded state, and commands continue from it
    assert snapshot is not None and snapshot.version == SNAPSHOT_EVERY
    assert snapshot.balance_cents == (SNAPSHOT_EVERY - 1) * 100
    everything = {"amount": f"{SNAPSHOT_EVERY}.00"}
    response = post_json(client, f"/accounts/{account['id']}/withdrawals", everything)
    assert (response.json_body["balance"], response.json_body["version"]) == (
        "0.00",
        SNAPSHOT_EVERY + 2,
    )


def test_an_expired_idempotency_key_runs_the_command_again(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a deposit whose idempotency record has expired (TTL not yet swept)
    account = _open(client)
    path = f"/accounts/{account['id']}/deposits"
    post_json(client, path, {"amount": 5}, {"Idempotency-Key": "old"})
    table = boto3.resource("dynamodb").Table(aws_env["IDEMPOTENCY_TABLE"])
    (item,) = [i for i in table.scan()["Items"] if "/deposits#" in str(i["pk"])]
    table.update_item(
        Key={"pk": item["pk"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": 1},
    )
    # WHEN the key is used again
    again = post_json(client, path, {"amount": 5}, {"Idempotency-Key": "old"})
    # THEN it is a new deposit, not a conflict
    assert (again.status_code, again.json_body["balance"]) == (201, "10.00")
