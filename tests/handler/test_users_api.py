"""POST /users and GET /users/{id} through chalice.test.Client against moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local_aws.token_signer import TokenSigner
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
    client: Any,
    as_caller: Callable[..., ApiClient],
    identity_pool: TokenSigner,
    aws_env: dict[str, str],
) -> None:
    # GIVEN a registered user
    assert post_json(client, "/users", user_body()).status_code == 201
    before = _writes(aws_env)
    # WHEN another identity whose email is the same in other case registers
    identity_pool.set_email("grace", "ADA@example.com")
    response = post_json(as_caller("grace"), "/users", user_body(name="Other"))
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
    # WHEN the same identity registers again
    response = post_json(client, "/users", user_body(name="Again"))
    # THEN 409 already_registered, and nothing was written
    assert response.status_code == 409
    assert response.json_body["error"] == "already_registered"
    assert set(response.json_body) == {"error", "message", "details"}
    assert _writes(aws_env) == before


def test_the_registered_email_is_the_identitys(
    as_caller: Callable[..., ApiClient], identity_pool: TokenSigner
) -> None:
    # GIVEN an identity whose verified email is Grace.Hopper@example.com
    identity_pool.set_email("grace", "Grace.Hopper@example.com")
    # WHEN she registers naming the same email in other case
    response = post_json(as_caller("grace"), "/users", user_body(email="grace.hopper@EXAMPLE.com"))
    # THEN 201 with the identity's email, as the identity has it
    assert response.status_code == 201, response.json_body
    assert response.json_body["email"] == "Grace.Hopper@example.com"


def test_another_persons_email_is_422_email_mismatch_and_writes_nothing(
    client: Any, aws_env: dict[str, str]
) -> None:
    # WHEN ada registers with carol's email
    response = post_json(client, "/users", user_body(email="carol@example.com"))
    # THEN 422 email_mismatch naming the field, and nothing was written
    assert response.status_code == 422
    assert response.json_body["error"] == "email_mismatch"
    assert [d["field"] for d in response.json_body["details"]] == ["email"]
    assert _writes(aws_env) == (0, 0)
    # AND carol's email stays free for carol
    assert post_json(client, "/users", user_body()).json_body["email"] == "ada@example.com"


def test_an_identity_without_a_verified_email_is_403(
    as_caller: Callable[..., ApiClient], identity_pool: TokenSigner, aws_env: dict[str, str]
) -> None:
    # GIVEN an identity whose email is not verified
    identity_pool.set_email("mallory", "mallory@example.com", verified=False)
    # WHEN it registers, naming that very email
    response = post_json(as_caller("mallory"), "/users", user_body(email="mallory@example.com"))
    # THEN 403 email_not_verified, and nothing was written
    assert response.status_code == 403
    assert response.json_body["error"] == "email_not_verified"
    assert _writes(aws_env) == (0, 0)


def test_a_deleted_identitys_token_cannot_register(
    as_caller: Callable[..., ApiClient], identity_pool: TokenSigner, aws_env: dict[str, str]
) -> None:
    # GIVEN a token whose identity was deleted from the pool since it was issued
    api = as_caller("gone")
    identity_pool.delete("gone")
    # WHEN it registers
    response = post_json(api, "/users", user_body())
    # THEN 401, and nothing was written
    assert response.status_code == 401
    assert response.json_body["error"] == "unauthorized"
    assert _writes(aws_env) == (0, 0)


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
        (user_body(email=["ada@example.com"]), "email"),
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
