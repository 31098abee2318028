"""GET /openapi.json through the API in-process (the document: tests/unit/test_openapi.py)."""

from __future__ import annotations

import json
from typing import Any

import write_openapi
from jsonschema import Draft202012Validator

from projections.catalogue import ACCOUNT_DEPOSITED, ACCOUNT_OPENED, ACCOUNT_WITHDRAWN
from tests.handler.helpers import post_json, register


def test_the_api_serves_the_document_without_a_token(anonymous: Any) -> None:
    response = anonymous.http.get("/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.body) == json.loads(write_openapi.DEFAULT_OUTPUT.read_text())


def test_an_accounts_event_list_conforms_to_the_documented_event_schema(client: Any) -> None:
    # GIVEN a registered person's account with a deposit and a withdrawal
    register(client)
    opened = post_json(client, "/accounts", {"currency": "EUR"})
    assert opened.status_code == 201, opened.body
    account_id = opened.json_body["id"]
    post_json(client, f"/accounts/{account_id}/deposits", {"amount": "10.00"})
    post_json(client, f"/accounts/{account_id}/withdrawals", {"amount": 2.5})
    # WHEN its events are read
    body = client.http.get(f"/accounts/{account_id}/events").json_body
    # THEN they conform to the document's EventList, each type's data as the catalogue states
    document = json.loads(write_openapi.DEFAULT_OUTPUT.read_text())
    schema = {"$ref": "#/components/schemas/EventList", "components": document["components"]}
    Draft202012Validator(schema).validate(body)
    assert [e["type"] for e in body["events"]] == [
        ACCOUNT_OPENED,
        ACCOUNT_DEPOSITED,
        ACCOUNT_WITHDRAWN,
    ]
    # AND a data field the catalogue does not declare would not
    body["events"][1]["data"]["note"] = "x"
    assert not Draft202012Validator(schema).is_valid(body)
