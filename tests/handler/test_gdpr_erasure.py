"""Crypto-shredding: POST /gdpr/erasure/{user_id} and the consumers' reaction."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3

from chalicelib.adapters.personal_data import REDACTED
from tests.handler.helpers import post_json, table_items, user_body

CONSUMERS = [
    ("loyalty_enrolment", "LOYALTY_QUEUE"),
    ("gdpr_consent_record", "GDPR_QUEUE"),
    ("crm_contact_sync", "CRM_QUEUE"),
]


def _ledger_events(env: dict[str, str], user_id: str) -> list[dict[str, Any]]:
    items = [i for i in table_items(env["LEDGER_TABLE"]) if i["aggregate_id"] == user_id]
    return [json.loads(i["event"]) for i in sorted(items, key=lambda i: i["version"])]


def _deliver(client: Any, env: dict[str, str], event: dict[str, Any]) -> None:
    for handler, queue_var in CONSUMERS:
        sqs_event = client.events.generate_sqs_event(
            message_bodies=[json.dumps(event)], queue_name=env[queue_var]
        )
        client.lambda_.invoke(handler, sqs_event)


def _everything_stored(env: dict[str, str]) -> str:
    tables = [v for k, v in env.items() if k.endswith("_TABLE")]
    return json.dumps([table_items(t) for t in tables], default=repr)


def test_erasure_shreds_personal_data_everywhere(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a user (loyalty + marketing) whose registration reached the consumers,
    # registered with an idempotency key so that response is stored too
    user = post_json(client, "/users", user_body(), {"Idempotency-Key": "reg-1"}).json_body
    (created,) = _ledger_events(aws_env, user["id"])
    _deliver(client, aws_env, created)
    assert client.http.get(f"/crm/contacts/{user['id']}").json_body["email"] == "ada@example.com"
    # (every stored copy is sealed even before the erasure, so backups hold no clear text)
    assert "ada@example.com" not in _everything_stored(aws_env)
    # WHEN the person asks to be erased
    response = post_json(client, f"/gdpr/erasure/{user['id']}", {})
    # THEN 202, and a user.erased event with no personal data follows user.created
    assert response.status_code == 202
    assert response.json_body["status"] == "erased"
    created, erased = _ledger_events(aws_env, user["id"])
    assert (erased["type"], erased["aggregateversion"]) == ("com.example.user.erased", 2)
    assert erased["data"] == {"user_id": user["id"], "loyalty": True, "marketing": True}
    # AND the consumers react when the erasure reaches them
    _deliver(client, aws_env, erased)
    assert client.http.get(f"/crm/contacts/{user['id']}").status_code == 404
    consents = client.http.get(f"/gdpr/consents/{user['id']}").json_body
    assert consents["consents"] == {"marketing": True} and "erased_at" in consents
    assert client.http.get(f"/loyalty/{user['id']}").json_body["enrolled"] is True
    # AND reads see the redaction marker, never an error
    fetched = client.http.get(f"/users/{user['id']}").json_body
    assert {fetched[f] for f in ("name", "lastname", "email", "address")} == {REDACTED}
    assert fetched["erased"] is True and fetched["loyalty"] is True
    again = post_json(client, "/users", user_body(), {"Idempotency-Key": "reg-1"}).json_body
    assert again["email"] == REDACTED
    # AND no stored byte holds the email or name in clear text
    stored = _everything_stored(aws_env)
    assert "ada@example.com" not in stored and "Lovelace" not in stored


def test_erasing_twice_is_a_no_op(client: Any, aws_env: dict[str, str]) -> None:
    user = post_json(client, "/users", user_body()).json_body
    first = post_json(client, f"/gdpr/erasure/{user['id']}", {})
    second = post_json(client, f"/gdpr/erasure/{user['id']}", {})
    assert (second.status_code, second.json_body) == (202, first.json_body)
    assert len(_ledger_events(aws_env, user["id"])) == 2


def test_erasing_an_unknown_user_is_404(admin: Any) -> None:
    assert post_json(admin, "/gdpr/erasure/nobody", {}).status_code == 404


def test_email_can_register_again_after_erasure(client: Any, as_caller: Any) -> None:
    # GIVEN a user who erased herself
    user = post_json(client, "/users", user_body()).json_body
    post_json(client, f"/gdpr/erasure/{user['id']}", {})
    # THEN a new identity may register with that email, the erased identity may not
    assert post_json(as_caller("ada-again"), "/users", user_body()).status_code == 201
    assert post_json(client, "/users", user_body()).status_code == 409


def test_other_users_are_untouched(client: Any, as_caller: Any, admin: Any) -> None:
    ada = post_json(client, "/users", user_body()).json_body
    grace = post_json(
        as_caller("grace"), "/users", user_body(email="grace@example.com", name="Grace")
    ).json_body
    post_json(client, f"/gdpr/erasure/{ada['id']}", {})
    assert admin.http.get(f"/users/{grace['id']}").json_body["email"] == "grace@example.com"


def test_consumers_redelivered_erasure_is_idempotent(client: Any, aws_env: dict[str, str]) -> None:
    user = post_json(client, "/users", user_body()).json_body
    post_json(client, f"/gdpr/erasure/{user['id']}", {})
    created, erased = _ledger_events(aws_env, user["id"])
    _deliver(client, aws_env, created)
    _deliver(client, aws_env, erased)
    before = table_items(aws_env["CRM_CONTACTS_TABLE"])
    _deliver(client, aws_env, erased)
    _deliver(client, aws_env, created)
    assert table_items(aws_env["CRM_CONTACTS_TABLE"]) == before
    # The CRM never stored the person in clear: the key was gone when it first saw them.
    assert "ada@example.com" not in json.dumps(before, default=str)


def test_key_is_deleted_and_kms_never_sees_plain_data(aws_env: dict[str, str], client: Any) -> None:
    user = post_json(client, "/users", user_body()).json_body
    keys = boto3.resource("dynamodb").Table(aws_env["PERSONAL_DATA_KEYS_TABLE"])
    assert "Item" in keys.get_item(Key={"user_id": user["id"]})
    post_json(client, f"/gdpr/erasure/{user['id']}", {})
    assert "Item" not in keys.get_item(Key={"user_id": user["id"]})


def _firehose_event(*payloads: bytes) -> dict[str, Any]:
    return {
        "invocationId": "inv-1",
        "records": [
            {"recordId": str(i), "data": base64.b64encode(p).decode()}
            for i, p in enumerate(payloads)
        ],
    }


def test_search_transform_opens_personal_fields_until_erasure(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a sealed user.created event as Firehose hands it to the transformation Lambda
    user = post_json(client, "/users", user_body()).json_body
    (created,) = _ledger_events(aws_env, user["id"])
    event = _firehose_event(json.dumps(created).encode(), b"not json")
    # WHEN the transform runs, before and after the erasure
    before = client.lambda_.invoke("search_transform", event).payload["records"]
    post_json(client, f"/gdpr/erasure/{user['id']}", {})
    after = client.lambda_.invoke("search_transform", event).payload["records"]
    # THEN it opened the fields while the key existed, redacts them after, fails garbage
    opened = json.loads(base64.b64decode(before[0]["data"]))
    assert (opened["data"]["email"], before[0]["result"]) == ("ada@example.com", "Ok")
    assert json.loads(base64.b64decode(after[0]["data"]))["data"]["email"] == REDACTED
    assert before[1]["result"] == "ProcessingFailed"
