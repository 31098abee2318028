"""The consumers on filtered streams of the user aggregate, and the loyalty read model.

Each test delivers to a consumer only the events its filter policy selects
(the filter itself is tested in tests/unit/test_filter_policies.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.entrypoints.roots import projector
from tests.handler.helpers import (
    ledger_events,
    post_json,
    put_json,
    register,
    sqs_failures,
    table_items,
)


def _deliver(
    client: Any, env: dict[str, str], handler: str, queue_var: str, *events: dict[str, Any]
) -> list[str]:
    """Deliver ``events`` in one batch; the bodies of the messages the consumer failed."""
    sqs_event = client.events.generate_sqs_event(
        message_bodies=[json.dumps(e) for e in events], queue_name=env[queue_var]
    )
    failed = sqs_failures(client, handler, sqs_event)
    return [r["body"] for r in sqs_event["Records"] if r["messageId"] in failed]


def _loyalty(client: Any, env: dict[str, str], *events: dict[str, Any]) -> list[str]:
    return _deliver(client, env, "loyalty_enrolment", "LOYALTY_QUEUE", *events)


def _gdpr(client: Any, env: dict[str, str], *events: dict[str, Any]) -> list[str]:
    return _deliver(client, env, "gdpr_consent_record", "GDPR_QUEUE", *events)


def _crm(client: Any, env: dict[str, str], *events: dict[str, Any]) -> list[str]:
    return _deliver(client, env, "crm_contact_sync", "CRM_QUEUE", *events)


def _enrolment(env: dict[str, str], user_id: str) -> dict[str, Any]:
    (item,) = [i for i in table_items(env["LOYALTY_ENROLMENTS_TABLE"]) if i["user_id"] == user_id]
    return item


def test_loyalty_enrolment_follows_a_late_join_and_a_leave(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a user who registered outside the programme and changed consents (v1, v2:
    # neither reaches the loyalty queue), then joined (v3)
    user = register(client, loyalty=False)
    put_json(client, f"/users/{user['id']}/consents", {"marketing": False})
    put_json(client, f"/users/{user['id']}/loyalty", {"member": True})
    joined = ledger_events(aws_env, user["id"])[2]
    # WHEN only the join is delivered to the loyalty consumer
    assert _loyalty(client, aws_env, joined) == []
    # THEN the versions its filter kept from it were accounted for from the ledger
    assert client.http.get(f"/loyalty/{user['id']}").json_body["enrolled"] is True
    assert _enrolment(aws_env, user["id"])["version"] == 3
    # AND a later leave (v4) unenrols the user
    put_json(client, f"/users/{user['id']}/loyalty", {"member": False})
    assert _loyalty(client, aws_env, ledger_events(aws_env, user["id"])[3]) == []
    assert client.http.get(f"/loyalty/{user['id']}").json_body["enrolled"] is False
    assert _enrolment(aws_env, user["id"])["version"] == 4


def test_an_event_delayed_in_the_queue_becomes_a_duplicate(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a member who leaves (v2) and joins again (v3)
    user = register(client)
    put_json(client, f"/users/{user['id']}/loyalty", {"member": False})
    put_json(client, f"/users/{user['id']}/loyalty", {"member": True})
    created, left, rejoined = ledger_events(aws_env, user["id"])
    # WHEN the queue delivers v1, then v3 before v2, then v2 late
    assert _loyalty(client, aws_env, created) == []
    assert _loyalty(client, aws_env, rejoined) == []
    before = _enrolment(aws_env, user["id"])
    assert _loyalty(client, aws_env, left) == []
    # THEN v2 was applied from the ledger in its turn, and its late delivery changes nothing
    assert before["enrolled"] is True and before["version"] == 3
    assert _enrolment(aws_env, user["id"]) == before


def test_a_gap_the_ledger_cannot_fill_fails_for_retry(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a join (v2) of a user whose ledger holds only v1 so far
    user = register(client, loyalty=False)
    (created,) = ledger_events(aws_env, user["id"])
    early = {
        **created,
        "id": "future",
        "aggregateversion": 3,
        "type": "com.example.user.loyalty_joined",
    }
    early["data"] = {"user_id": user["id"]}
    # WHEN it arrives THEN the message fails (SQS retries it) and nothing is applied
    assert _loyalty(client, aws_env, early) == [json.dumps(early)]
    assert table_items(aws_env["LOYALTY_ENROLMENTS_TABLE"]) == []


def test_gdpr_record_answers_consents_at_any_time(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a user who consented at registration, withdrew, then consented again
    user = register(client)
    put_json(client, f"/users/{user['id']}/consents", {"marketing": False})
    put_json(client, f"/users/{user['id']}/consents", {"marketing": True})
    events = ledger_events(aws_env, user["id"])
    # WHEN every user event reaches the GDPR consumer (one delivered twice)
    assert _gdpr(client, aws_env, *events, events[1]) == []
    path = f"/gdpr/consents/{user['id']}"
    # THEN the record now shows consent, with the whole history
    now = client.http.get(path).json_body
    assert now["marketing"] is True and now["recorded_at"] == events[2]["time"]
    assert [(h["marketing"], h["at"]) for h in now["history"]] == [
        (True, events[0]["time"]),
        (False, events[1]["time"]),
        (True, events[2]["time"]),
    ]
    # AND at each moment it answers what was in force then
    for event, marketing in zip(events, (True, False, True), strict=True):
        at = client.http.get(f"{path}?at={event['time']}").json_body
        assert (at["marketing"], at["consents"], at["source_event_id"]) == (
            marketing,
            {"marketing": marketing},
            event["id"],
        )
        assert at["at"] == event["time"]
    # AND before the registration there was no record
    assert client.http.get(f"{path}?at=2000-01-01T00:00:00Z").status_code == 404


@pytest.mark.parametrize(
    "at", ["yesterday", "2026-13-01", "", "0001-01-01T00:00:00+01:00", "2026-01-01T25:00"]
)
def test_a_bad_at_is_400(client: Any, aws_env: dict[str, str], at: str) -> None:
    user = register(client)
    assert _gdpr(client, aws_env, *ledger_events(aws_env, user["id"])) == []
    response = client.http.get(f"/gdpr/consents/{user['id']}?at={at}")
    assert response.status_code == 400
    assert response.json_body["error"] == "validation_error"
    assert response.json_body["details"][0]["field"] == "at"


def test_crm_contact_is_deleted_on_withdrawal_and_created_again_on_consent(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a user registered without marketing consent (never delivered to the CRM)
    user = register(client, consents={"marketing": False})
    path = f"/crm/contacts/{user['id']}"
    # WHEN they consent (v2) and that reaches the CRM
    put_json(client, f"/users/{user['id']}/consents", {"marketing": True})
    assert _crm(client, aws_env, ledger_events(aws_env, user["id"])[1]) == []
    # THEN the contact exists, with their personal data (stored sealed)
    contact = client.http.get(path).json_body
    assert (contact["email"], contact["name"], contact["marketing_consent"]) == (
        "ada@example.com",
        "Ada",
        True,
    )
    assert "ada@example.com" not in json.dumps(
        table_items(aws_env["CRM_CONTACTS_TABLE"]), default=str
    )
    # WHEN they withdraw (v3)
    put_json(client, f"/users/{user['id']}/consents", {"marketing": False})
    assert _crm(client, aws_env, ledger_events(aws_env, user["id"])[2]) == []
    # THEN the contact is gone: 404, and the tombstone holds no personal data
    assert client.http.get(path).status_code == 404
    (tombstone,) = table_items(aws_env["CRM_CONTACTS_TABLE"])
    assert not {"name", "lastname", "email", "address"} & set(tombstone)
    assert tombstone["marketing_consent"] is False and tombstone["version"] == 3
    # WHEN they consent again (v4)
    put_json(client, f"/users/{user['id']}/consents", {"marketing": True})
    assert _crm(client, aws_env, ledger_events(aws_env, user["id"])[3]) == []
    # THEN the contact is back
    assert client.http.get(path).json_body["email"] == "ada@example.com"


def test_erasure_after_a_consent_change_reaches_the_crm(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a contact created by a consent given after registration
    user = register(client, consents={"marketing": False})
    put_json(client, f"/users/{user['id']}/consents", {"marketing": True})
    assert _crm(client, aws_env, ledger_events(aws_env, user["id"])[1]) == []
    # WHEN the person is erased (user.erased carries marketing=true: the CRM queue gets it)
    post_json(client, f"/gdpr/erasure/{user['id']}", {})
    erased = ledger_events(aws_env, user["id"])[2]
    assert erased["data"]["marketing"] is True
    assert _crm(client, aws_env, erased) == []
    # THEN the contact is a tombstone
    assert client.http.get(f"/crm/contacts/{user['id']}").status_code == 404
    assert "email" not in table_items(aws_env["CRM_CONTACTS_TABLE"])[0]


def _project(client: Any, *events: dict[str, Any]) -> None:
    projector.project_records([json.dumps(e).encode() for e in events])


def test_loyalty_points_count_only_while_a_member_whatever_the_arrival_order(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a user who buys before joining, joins, buys, leaves, buys
    user = register(client, loyalty=False)
    uid = user["id"]
    orders = []
    for n, member in enumerate((True, False, None)):
        response = post_json(
            client,
            f"/users/{uid}/purchases",
            {"order_id": f"o{n}", "amount": "100.00", "currency": "EUR"},
        )
        orders.append(response.json_body["purchase_id"])
        if member is not None:
            put_json(client, f"/users/{uid}/loyalty", {"member": member})
    created, joined, left = ledger_events(aws_env, uid)
    purchases = [ledger_events(aws_env, p)[0] for p in orders]
    # WHEN the projector sees every purchase before the user events (other shards)
    _project(client, *purchases, created, joined, left)
    # THEN only the purchase made while a member counts (plus the early-adopter bonus)
    status = client.http.get(f"/loyalty/{uid}").json_body
    bonus = 500  # the first user of this test registers first
    assert status["points"] == 100 + bonus
