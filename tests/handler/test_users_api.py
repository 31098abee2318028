"""POST /users and GET /users/{id} through chalice.test.Client against moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.handler.helpers import ApiClient, post_json, table_items, user_body


def _writes(env: dict[str, str]) -> tuple[int, int]:
    return len(table_items(env["USERS_TABLE"])), len(table_items(env["LEDGER_TABLE"]))


def test_register_user_writes_user_lock_and_event(client: Any, aws_env: dict[str, str]) -> None:
    # WHEN a valid user registers
    response = post_json(client, "/users", user_body())
    # THEN 201 with the user, whose id is the token's sub
    assert response.status_code == 201
    user = response.json_body
    assert user["id"] == client.sub
    assert user["email"] == "ada@example.com"
    assert user["loyalty"] is True and user["consents"] == {"marketing": True}
    # AND the ledger holds exactly one user.created event at version 1 for that id
    (item,) = table_items(aws_env["LEDGER_TABLE"])
    event = json.loads(item["event"])
    assert (event["type"], event["subject"], event["aggregateversion"]) == (
        "com.example.user.created",
        user["id"],
        1,
    )
    # AND personal fields are sealed in the event and nowhere stored in clear text
    assert event["data"]["email"].startswith("pii:v1:")
    assert event["data"]["loyalty"] is True
    stored = json.dumps(
        table_items(aws_env["LEDGER_TABLE"]) + table_items(aws_env["USERS_TABLE"]), default=str
    )
    assert "ada@example.com" not in stored and "Lovelace" not in stored
    # AND GET returns the same user
    fetched = client.http.get(f"/users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json_body == user


def test_duplicate_email_is_409_and_writes_nothing(
    client: Any, as_caller: Callable[..., ApiClient], aws_env: dict[str, str]
) -> None:
    # GIVEN a registered user
    assert post_json(client, "/users", user_body()).status_code == 201
    before = _writes(aws_env)
    # WHEN another person registers with the same email in other case
    response = post_json(
        as_caller("grace"), "/users", user_body(email="ADA@example.com", name="Other")
    )
    # THEN 409 email_taken in the documented shape, and nothing was written
    assert response.status_code == 409
    assert response.json_body["error"] == "email_taken"
    assert set(response.json_body) == {"error", "message", "details"}
    assert _writes(aws_env) == before


def test_a_second_profile_for_the_same_identity_is_409(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a registered user
    assert post_json(client, "/users", user_body()).status_code == 201
    before = _writes(aws_env)
    # WHEN the same identity registers again, even with another email
    response = post_json(client, "/users", user_body(email="other@example.com"))
    # THEN 409 already_registered, and nothing was written
    assert response.status_code == 409
    assert response.json_body["error"] == "already_registered"
    assert set(response.json_body) == {"error", "message", "details"}
    assert _writes(aws_env) == before


def test_unknown_user_is_404(admin: Any) -> None:
    response = admin.http.get("/users/does-not-exist")
    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (user_body(name=""), "name"),
        (user_body(name="x" * 101), "name"),
        (user_body(name=123), "name"),
        (user_body(email="not-an-email"), "email"),
        (user_body(loyalty="yes"), "loyalty"),
        (user_body(consents={"marketing": "true"}), "consents.marketing"),
        (user_body(consents=[True]), "consents"),
        (user_body(address=None), "address"),
        (user_body(address="y" * 10_000), "address"),
        ({k: v for k, v in user_body().items() if k != "lastname"}, "lastname"),
    ],
)
def test_invalid_fields_get_400_with_details(
    client: Any, aws_env: dict[str, str], body: dict[str, Any], field: str
) -> None:
    # WHEN a registration has one bad field
    response = post_json(client, "/users", body)
    # THEN 400 names that field, and nothing was written
    assert response.status_code == 400
    assert response.json_body["error"] == "validation_error"
    fields = {d["field"] for d in response.json_body["details"]}
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert _writes(aws_env) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("{not json", 400),
        ("[1, 2]", 400),
        ('"a string"', 400),
        ("null", 400),
        ("", 400),
        (json.dumps(user_body(name="n" * 70_000)), 413),
    ],
    ids=["not-json", "array", "string", "null", "empty", "over-64KB"],
)
def test_malformed_bodies_are_refused(
    client: Any, aws_env: dict[str, str], raw: str, status: int
) -> None:
    # WHEN the body is not a JSON object of acceptable size
    response = post_json(client, "/users", raw)
    # THEN 400 (or 413 when too large) in the documented shape, nothing written
    assert response.status_code == status
    assert set(response.json_body) == {"error", "message", "details"}
    assert _writes(aws_env) == (0, 0)


def test_address_may_be_structured(client: Any) -> None:
    address = {"street": "1 Main St", "city": "Dublin", "country": "IE"}
    response = post_json(client, "/users", user_body(address=address))
    assert response.status_code == 201
    assert response.json_body["address"] == address
