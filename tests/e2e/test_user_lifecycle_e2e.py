"""End to end: joins, leaves and consent changes on the local stack, over HTTP."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders
from tests.e2e.stack_reads import archived, loyalty_item

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@dataclass(frozen=True)
class Person:
    """A registered user, calling the stack with their own access token."""

    stack: LocalStackProcess
    headers: dict[str, str]
    user: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.user["id"])

    def api(self, method: str, path: str, body: Any = None) -> requests.Response:
        return _api(self.stack, self.headers, method, path, body)

    def put(self, what: str, body: dict[str, bool]) -> None:
        response = self.api("PUT", f"/users/{self.id}/{what}", body)
        assert response.status_code == 200, response.text

    def purchase(self, order: str, amount: str) -> str:
        body = {"order_id": order, "amount": amount, "currency": "EUR"}
        response = self.api("POST", f"/users/{self.id}/purchases", body)
        assert response.status_code == 201, response.text
        return str(response.json()["purchase_id"])


def _api(
    stack: LocalStackProcess, headers: dict[str, str], method: str, path: str, body: Any = None
) -> requests.Response:
    """Every HTTP call of this module: the one place for headers."""
    url = f"{stack.api_url}{path}"
    return requests.request(method, url, json=body, headers=headers, timeout=30)


def _register(
    stack: LocalStackProcess, auth_headers: AuthHeaders, *, loyalty: bool, marketing: bool
) -> Person:
    token = uuid.uuid4().hex[:10]
    email = f"life-{token}@example.com"
    headers = auth_headers(email)
    body = {
        "name": "Life",
        "lastname": f"Cycle{token}",
        "email": email,
        "address": "1 Event Street",
        "loyalty": loyalty,
        "consents": {"marketing": marketing},
    }
    response = _api(stack, headers, "POST", "/users", body)
    assert response.status_code == 201, response.text
    return Person(stack, headers, dict(response.json()))


def _record(stack: LocalStackProcess, table: str, user_id: str) -> dict[str, Any]:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.name(table), Key={"user_id": {"S": user_id}}, ConsistentRead=True)
        .get("Item")
    )
    return item or {}


def _version(stack: LocalStackProcess, table: str, user_id: str) -> int:
    record = _record(stack, table, user_id)
    return int(record["version"]["N"]) if record else 0


def _at_version(stack: LocalStackProcess, table: str, user_id: str, version: int) -> bool:
    return _version(stack, table, user_id) >= version


def test_lifecycle_events_reach_exactly_the_subscribers_whose_filters_match(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN a user outside loyalty and without marketing consent (v1: GDPR only)
    person = _register(local_stack, auth_headers, loyalty=False, marketing=False)
    uid = person.id
    wait_for(lambda: _at_version(local_stack, "gdpr-consents", uid, 1), timeout=60)
    # WHEN they consent (v2: GDPR and CRM)
    person.put("consents", {"marketing": True})
    # THEN the CRM creates the contact, GDPR records the change
    wait_for(lambda: person.api("GET", f"/crm/contacts/{uid}").ok, timeout=60)
    contact = person.api("GET", f"/crm/contacts/{uid}").json()
    assert contact["lastname"] == person.user["lastname"]
    wait_for(lambda: _at_version(local_stack, "gdpr-consents", uid, 2), timeout=60)
    # WHEN they join loyalty (v3: GDPR and loyalty)
    person.put("loyalty", {"member": True})
    # THEN loyalty enrols them, having accounted for v1 and v2 from the ledger
    wait_for(lambda: person.api("GET", f"/loyalty/{uid}").json()["enrolled"], timeout=60)
    wait_for(lambda: _at_version(local_stack, "gdpr-consents", uid, 3), timeout=60)
    assert _version(local_stack, "loyalty-enrolments", uid) == 3
    # AND the CRM was not sent the join: its record is still at the consent (v2)
    assert _version(local_stack, "crm-contacts", uid) == 2
    # WHEN they withdraw consent (v4: GDPR and CRM) and leave loyalty (v5: GDPR and loyalty)
    person.put("consents", {"marketing": False})
    person.put("loyalty", {"member": False})
    # THEN the CRM contact is deleted and loyalty unenrols them
    wait_for(lambda: person.api("GET", f"/crm/contacts/{uid}").status_code == 404, 60)
    wait_for(lambda: person.api("GET", f"/loyalty/{uid}").json()["enrolled"] is False, 60)
    wait_for(lambda: _at_version(local_stack, "gdpr-consents", uid, 5), timeout=60)
    # AND each consumer's last delivery was the last event its filter selects
    assert _version(local_stack, "crm-contacts", uid) == 4
    assert _version(local_stack, "loyalty-enrolments", uid) == 5
    tombstone = _record(local_stack, "crm-contacts", uid)
    assert not {"name", "lastname", "email", "address"} & set(tombstone)
    # AND GET /users reflects the current state
    now = person.api("GET", f"/users/{uid}").json()
    assert (now["loyalty"], now["consents"]) == (False, {"marketing": False})


def test_point_in_time_consent_answers(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN a user who consented, withdrew and consented again
    person = _register(local_stack, auth_headers, loyalty=False, marketing=True)
    person.put("consents", {"marketing": False})
    person.put("consents", {"marketing": True})
    path = f"/gdpr/consents/{person.id}"

    def full_history() -> list[dict[str, Any]]:
        response = person.api("GET", path)
        history = list(response.json()["history"]) if response.ok else []
        return history if len(history) == 3 else []

    history = wait_for(full_history, timeout=60)
    # WHEN asked what was consented at each change
    # THEN the answer is the value in force then
    for entry, expected in zip(history, (True, False, True), strict=True):
        answer = person.api("GET", f"{path}?at={entry['at']}").json()
        assert (answer["marketing"], answer["recorded_at"]) == (expected, entry["at"])
    # AND before the registration there was no record; a bad `at` is a 400
    assert person.api("GET", f"{path}?at=1999-12-31T23:59:59Z").status_code == 404
    bad = person.api("GET", f"{path}?at=not-a-time")
    assert bad.status_code == 400 and bad.json()["error"] == "validation_error"




def test_loyalty_replay_with_joins_and_leaves_equals_the_live_read_model(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN a user who buys before joining, while a member, and after leaving
    person = _register(local_stack, auth_headers, loyalty=False, marketing=False)
    uid = person.id
    aggregates = {(uid, v) for v in (1, 2, 3)}
    aggregates.add((person.purchase("before", "40.00"), 1))
    person.put("loyalty", {"member": True})
    aggregates.add((person.purchase("during", "25.00"), 1))
    person.put("loyalty", {"member": False})
    aggregates.add((person.purchase("after", "60.00"), 1))
    live_table = local_stack.name("read-models")

    def projected() -> dict[str, Any]:
        item = loyalty_item(local_stack, live_table, uid)
        positions = item.get("positions", {}).get("M", {})
        # The item has folded the user's last version (its own position) and every
        # purchase (their positions are items of their own): 6 events in all.
        done = positions == {uid: {"N": "3"}} and item.get("version") == {"N": "6"}
        return item if done else {}

    live = wait_for(projected, timeout=60)
    # THEN live, only the purchase made while a member earned points
    assert int(live["purchase_points"]["N"]) == 25
    status = person.api("GET", f"/loyalty/{uid}").json()
    assert status["points"] == 25 + int(live["bonus_points"]["N"])
    # WHEN the archive holds all of it and the loyalty projection is rebuilt from it
    wait_for(lambda: aggregates <= archived(local_stack), timeout=60)
    fresh = local_stack.name(f"loyalty-rebuild-{uuid.uuid4().hex[:6]}")
    result = local_stack.run_script(
        "replay.py", "--projection", "loyalty", "--source", "archive", "--table", fresh
    )
    assert json.loads(result.stdout.strip().splitlines()[-1])["unresolved_gaps"] == 0
    rebuilt = loyalty_item(local_stack, fresh, uid)
    # THEN the rebuilt item equals the live one. The early-adopter places are the
    # exception by design: live they go in projection order, a replay ranks by
    # registration time across every user of the session.
    ranked = {"bonus_points", "points", "tier"}
    assert {k: v for k, v in rebuilt.items() if k not in ranked} == {
        k: v for k, v in live.items() if k not in ranked
    }
