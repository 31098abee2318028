"""End to end: nothing acknowledged is lost, under races and next to failed transactions.

These are the races that lost writes and stream records when moto served
DynamoDB (issue #9): a failed transaction between registrations, parallel
appends to one aggregate, parallel retries of one key, parallel registrations
of one identity.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.api import Api

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RACERS = 40
USER_CREATED = "com.example.user.created"


def _race(calls: int, call: Any) -> list[requests.Response]:
    """``call(i)`` for i in range(calls), all at once."""
    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(call, range(calls)))


def _user(lastname: str, *, loyalty: bool = False, marketing: bool = False) -> dict:
    # No email: a registration takes the caller's identity's.
    return {
        "name": "Ada",
        "lastname": lastname,
        "address": "1 Race Street",
        "loyalty": loyalty,
        "consents": {"marketing": marketing},
    }


def _table_ids(stack: LocalStackProcess, suffix: str, wanted: set[str]) -> set[str]:
    """The ``wanted`` user ids that have an item in consumer table ``suffix``."""
    dynamodb = stack.client("dynamodb")
    found: set[str] = set()
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.name(suffix)):
        found.update(item["user_id"]["S"] for item in page["Items"])
    return found & wanted


def _indexed(api: Api, **params: str) -> list[dict[str, Any]]:
    response = api.get("/search", params={"size": "100", **params})
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def _open_account(api: Api) -> str:
    """An account of a newly registered owner, opened by the operator (who then acts on it)."""
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    user = api.post("/users", _user("Owner"), as_=owner)
    assert user.status_code == 201, user.text
    response = api.post("/accounts", {"currency": "EUR", "owner_id": user.json()["id"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _account_events(api: Api, account_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/accounts/{account_id}/events")
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def _drained(api: Api, run: str) -> None:
    """Wait until a registration made now is indexed: what was committed before it is too."""
    marker = api.post("/users", _user(f"Marker{run}"), as_=run)
    assert marker.status_code == 201, marker.text
    wait_for(lambda: _indexed(api, subject=marker.json()["id"]), timeout=60)


def test_registrations_next_to_failed_ones_reach_every_consumer_once(
    local_stack: LocalStackProcess, api: Api
) -> None:
    # GIVEN 12 registrations, each followed by a failing second one of the same identity (409)
    run = uuid.uuid4().hex[:8]
    users = []
    api.sign_in(*(f"interleaved-{run}-{i}" for i in range(12)))
    for i in range(12):
        body = _user(f"Inter{run}", loyalty=i % 2 == 0, marketing=i % 3 == 0)
        created = api.post("/users", body, as_=f"interleaved-{run}-{i}")
        assert created.status_code == 201, created.text
        users.append(created.json())
        again = api.post("/users", body, as_=f"interleaved-{run}-{i}")
        assert (again.status_code, again.json()["error"]) == (409, "already_registered")
    ids = {u["id"] for u in users}
    expected = {
        "gdpr-consents": ids,
        "loyalty-enrolments": {u["id"] for u in users if u["loyalty"]},
        "crm-contacts": {u["id"] for u in users if u["consents"]["marketing"]},
    }

    # WHEN the fan-out and the indexing settle
    def consumers() -> dict[str, set[str]]:
        return {table: _table_ids(local_stack, table, ids) for table in expected}

    wait_for(lambda: consumers() == expected, timeout=90, interval=0.5)
    _drained(api, run)
    # THEN each consumer holds exactly the users its filter selects, and the index holds
    # one user.created per user and none for the failed registrations
    assert consumers() == expected
    indexed = _indexed(api, type=USER_CREATED, q=f"Inter{run}")
    assert Counter(e["subject"] for e in indexed) == Counter(dict.fromkeys(ids, 1))


def test_racing_deposits_are_all_stored_and_counted(api: Api) -> None:
    # GIVEN an open account (its owner signed in)
    account_id = _open_account(api)
    # WHEN 40 deposits of 1.00 race, without an Idempotency-Key
    responses = _race(
        RACERS, lambda _: api.post(f"/accounts/{account_id}/deposits", {"amount": "1.00"})
    )
    # THEN every acknowledged deposit is stored once, the balance counts them all, and the
    # versions run 1..N+1 with no gap
    acknowledged = [r.json() for r in responses if r.status_code == 201]
    assert len(acknowledged) == RACERS, [r.text for r in responses if r.status_code != 201]
    events = _account_events(api, account_id)
    deposits = [e for e in events if e["type"] == "com.example.account.deposited"]
    assert sorted(e["id"] for e in deposits) == sorted(a["event_id"] for a in acknowledged)
    assert [e["aggregateversion"] for e in events] == list(range(1, RACERS + 2))
    assert sorted(a["version"] for a in acknowledged) == list(range(2, RACERS + 2))
    account = api.get(f"/accounts/{account_id}").json()
    assert Decimal(account["balance"]) == Decimal(len(acknowledged))
    assert account["version"] == RACERS + 1


def test_racing_retries_with_one_idempotency_key_append_one_event(api: Api) -> None:
    # GIVEN an open account and one Idempotency-Key
    account_id = _open_account(api)
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    # WHEN 40 retries of the same deposit race with that key
    responses = _race(
        RACERS,
        lambda _: api.post(f"/accounts/{account_id}/deposits", {"amount": "5.00"}, headers=key),
    )
    # THEN one deposit event exists, and every success answers with it
    successes = [r.json() for r in responses if r.status_code == 201]
    events = [
        e for e in _account_events(api, account_id) if e["type"] == "com.example.account.deposited"
    ]
    assert len(events) == 1
    assert successes and {s["event_id"] for s in successes} == {events[0]["id"]}
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    assert api.get(f"/accounts/{account_id}").json()["balance"] == "5.00"


def test_racing_registrations_of_one_identity_make_one_user(api: Api) -> None:
    # GIVEN one identity (so one email: a registration takes the identity's)
    run = uuid.uuid4().hex[:8]
    body = _user(f"Racer{run}", loyalty=True)
    api.sign_in(f"racer-{run}")
    # WHEN it registers 40 times at once
    responses = _race(RACERS, lambda i: api.post("/users", body, as_=f"racer-{run}"))
    # THEN one gets 201, the others 409 (the profile or its email lock is taken)
    codes = Counter(r.status_code for r in responses)
    assert codes == Counter({201: 1, 409: RACERS - 1}), [r.text for r in responses]
    errors = {r.json()["error"] for r in responses if r.status_code == 409}
    assert errors <= {"already_registered", "email_taken"}, errors
    (winner,) = (r.json() for r in responses if r.status_code == 201)
    # AND once the pipeline has drained, the index holds one user.created: the winner's
    _drained(api, run)
    indexed = _indexed(api, q=f"Racer{run}")
    assert [(e["type"], e["subject"]) for e in indexed] == [(USER_CREATED, winner["id"])]
