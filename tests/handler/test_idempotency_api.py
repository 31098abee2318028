"""Idempotency keys belong to one caller and one route, and to one request body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.adapters.idempotency import IdempotencyStore
from tests.handler.helpers import ApiClient, post_json, register, table_items, user_body


def _ledger_count(env: dict[str, str]) -> int:
    return len(table_items(env["LEDGER_TABLE"]))


@pytest.fixture
def ada(client: ApiClient) -> ApiClient:
    register(client)
    return client


@pytest.fixture
def bob(as_caller: Callable[..., ApiClient]) -> ApiClient:
    api = as_caller("bob")
    register(api)
    return api


def test_keys_of_different_callers_never_meet(
    as_caller: Callable[..., ApiClient], aws_env: dict[str, str]
) -> None:
    # GIVEN ada registered with an Idempotency-Key
    key = {"Idempotency-Key": "signup"}
    ada, eve = as_caller("ada"), as_caller("eve")
    first = post_json(ada, "/users", user_body(email="ada@example.com"), key)
    assert first.status_code == 201
    # WHEN another caller sends the same key with her own body
    second = post_json(eve, "/users", user_body(email="eve@example.com", name="Eve"), key)
    # THEN she is registered herself and never sees ada's response
    assert (second.status_code, second.json_body["id"]) == (201, "eve")
    assert "ada@example.com" not in second.body.decode()
    assert _ledger_count(aws_env) == 2


def test_the_same_key_on_two_callers_accounts_opens_two_accounts(
    ada: ApiClient, bob: ApiClient
) -> None:
    key = {"Idempotency-Key": "open-1"}
    ours = post_json(ada, "/accounts", {"currency": "EUR"}, key).json_body
    theirs = post_json(bob, "/accounts", {"currency": "EUR"}, key).json_body
    assert (ours["owner_id"], theirs["owner_id"]) == ("ada", "bob")
    assert ours["id"] != theirs["id"]
    # AND each caller's retry gets their own first response
    assert post_json(ada, "/accounts", {"currency": "EUR"}, key).json_body == ours
    assert post_json(bob, "/accounts", {"currency": "EUR"}, key).json_body == theirs


def test_same_key_other_body_is_422_and_appends_nothing(
    ada: ApiClient, aws_env: dict[str, str]
) -> None:
    # GIVEN a deposit made with a key
    account = post_json(ada, "/accounts", {"currency": "EUR"}).json_body
    path = f"/accounts/{account['id']}/deposits"
    first = post_json(ada, path, {"amount": 5}, {"Idempotency-Key": "k"})
    before = _ledger_count(aws_env)
    # WHEN the key comes again with another amount
    reused = post_json(ada, path, {"amount": 7}, {"Idempotency-Key": "k"})
    # THEN 422 idempotency_key_reused in the documented shape, nothing appended
    assert reused.status_code == 422
    assert reused.json_body["error"] == "idempotency_key_reused"
    assert set(reused.json_body) == {"error", "message", "details"}
    assert _ledger_count(aws_env) == before
    # AND the same body, spelled differently, still gets the first response
    same = post_json(ada, path, '{ "amount" : 5 }', {"Idempotency-Key": "k"})
    assert (same.status_code, same.json_body) == (201, first.json_body)
    assert ada.http.get(f"/accounts/{account['id']}").json_body["balance"] == "5.00"


def test_a_key_is_scoped_to_its_route(ada: ApiClient) -> None:
    account = post_json(ada, "/accounts", {"currency": "EUR"}).json_body
    key = {"Idempotency-Key": "same"}
    deposit = post_json(ada, f"/accounts/{account['id']}/deposits", {"amount": 5}, key)
    withdrawal = post_json(ada, f"/accounts/{account['id']}/withdrawals", {"amount": 5}, key)
    assert (deposit.status_code, withdrawal.status_code) == (201, 201)
    assert withdrawal.json_body["balance"] == "0.00"


def test_a_no_op_command_records_its_key_too(ada: ApiClient) -> None:
    # GIVEN a purchase, then a repeat of its order id (no new event) under a key
    purchase = {"order_id": "o-1", "amount": "10.00", "currency": "EUR"}
    post_json(ada, "/users/ada/purchases", purchase)
    key = {"Idempotency-Key": "p"}
    assert post_json(ada, "/users/ada/purchases", purchase, key).status_code == 200
    # WHEN that key comes back with another order
    other = post_json(ada, "/users/ada/purchases", {**purchase, "order_id": "o-2"}, key)
    # THEN it is a reused key, not a new purchase
    assert other.status_code == 422


@pytest.mark.parametrize(("second_amount", "expected"), [(7, 422), (5, 201)])
def test_racing_retries_with_one_key_append_once(
    ada: ApiClient,
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    second_amount: int,
    expected: int,
) -> None:
    # GIVEN two requests with one key, the second committing between the first's
    # idempotency lookup and its transaction (the race a retrying client can cause)
    account = post_json(ada, "/accounts", {"currency": "EUR"}).json_body
    path = f"/accounts/{account['id']}/deposits"
    key = {"Idempotency-Key": "race"}
    before = _ledger_count(aws_env)
    original_get = IdempotencyStore.get
    raced: list[Any] = []
    racing: list[bool] = []

    def get_then_lose_the_race(self: IdempotencyStore, scope: str, idem: Any) -> Any:
        found = original_get(self, scope, idem)
        if not racing:
            racing.append(True)
            raced.append(post_json(ada, path, {"amount": second_amount}, key))
        return found

    monkeypatch.setattr(IdempotencyStore, "get", get_then_lose_the_race)
    # WHEN the first request goes on to commit
    first = post_json(ada, path, {"amount": 5}, key)
    # THEN exactly one deposit was appended: the racer won with 201
    (winner,) = raced
    assert winner.status_code == 201
    assert _ledger_count(aws_env) == before + 1
    # AND the loser gets 422 for another body, or the winner's response for the same one
    assert first.status_code == expected
    if expected == 201:
        assert first.json_body == winner.json_body
    else:
        assert json.loads(first.body)["error"] == "idempotency_key_reused"
