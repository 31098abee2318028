"""Every status the API answers has the documented shape {"error","message","details"}."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chalice import local

from chalicelib.entrypoints.roots import users
from local_aws.chalice_local import apply_gateway_responses
from tests.handler.helpers import post_json, user_body


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN chalice local with the gateway responses the local stack applies."""
    monkeypatch.setattr(local.LocalGateway, "handle_request", local.LocalGateway.handle_request)
    apply_gateway_responses()


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret internals")


def _open_account(client: Any) -> str:
    post_json(client, "/users", user_body())  # an owner must be registered
    return str(post_json(client, "/accounts", {"currency": "EUR"}).json_body["id"])


def _reuse_key(client: Any) -> Any:
    post_json(client, "/users", user_body())
    key = {"Idempotency-Key": "k-1"}
    post_json(client, "/accounts", {"currency": "EUR"}, key)
    return post_json(client, "/accounts", {"currency": "USD"}, key)


# Each case: status, expected error code, and a request that makes the API answer it
# (sent by `ada`, a customer with a valid token, unless the case says otherwise).
CASES: dict[str, tuple[int, str, Callable[[Any], Any]]] = {
    "400-validation": (400, "validation_error", lambda c: post_json(c, "/users", {"name": 1})),
    "400-bad-json": (400, "validation_error", lambda c: post_json(c, "/users", "{")),
    "400-query": (
        400,
        "validation_error",
        lambda c: c.http.get(f"/accounts/{_open_account(c)}?at=x"),
    ),
    "401-no-token": (
        401,
        "unauthorized",
        lambda c: c.http.get("/users/ada", headers={"Authorization": ""}),
    ),
    "401-bad-token": (
        401,
        "unauthorized",
        lambda c: c.http.get("/users/ada", headers={"Authorization": "Bearer forged"}),
    ),
    "403-not-admin": (403, "forbidden", lambda c: c.http.get("/search")),
    "422-key-reused": (422, "idempotency_key_reused", _reuse_key),
    "404-resource": (404, "not_found", lambda c: c.http.get("/users/nobody")),
    "404-route": (404, "not_found", lambda c: c.http.get("/no/such/route")),
    "404-route-with-token": (
        404,
        "not_found",
        lambda c: c.http.get("/no/such/route", headers={"Authorization": "Bearer x"}),
    ),
    "405-method": (405, "method_not_allowed", lambda c: c.http.put("/users", body=b"{}")),
    "405-delete": (405, "method_not_allowed", lambda c: c.http.delete("/accounts/x")),
    "405-head": (405, "method_not_allowed", lambda c: c.http.request("HEAD", "/health")),
    "409-conflict": (
        409,
        "already_registered",
        lambda c: [post_json(c, "/users", user_body()) for _ in range(2)][-1],
    ),
    "409-insufficient": (
        409,
        "insufficient_funds",
        lambda c: post_json(c, f"/accounts/{_open_account(c)}/withdrawals", {"amount": 1}),
    ),
    "413-too-large": (
        413,
        "payload_too_large",
        lambda c: post_json(c, "/users", json.dumps(user_body(name="n" * 70_000))),
    ),
    "415-text-plain": (
        415,
        "unsupported_media_type",
        lambda c: c.http.post(
            "/users", headers={"Content-Type": "text/plain"}, body=json.dumps(user_body())
        ),
    ),
    "415-form": (
        415,
        "unsupported_media_type",
        lambda c: c.http.post(
            "/accounts",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"owner_id=u&currency=EUR",
        ),
    ),
    "415-no-type": (
        415,
        "unsupported_media_type",
        lambda c: c.http.post("/accounts", body=b'{"owner_id":"u","currency":"EUR"}'),
    ),
    "415-other-charset": (
        415,
        "unsupported_media_type",
        lambda c: c.http.post(
            "/accounts",
            headers={"Content-Type": "application/json; charset=latin-1"},
            body=b'{"owner_id":"u","currency":"EUR"}',
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_status_has_the_documented_shape(
    client: Any, aws_env: dict[str, str], gateway: None, case: str
) -> None:
    status, code, send = CASES[case]
    # WHEN a request that must fail this way is sent
    response = send(client)
    # THEN its status, JSON content type and shape are the documented ones
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    assert set(body) == {"error", "message", "details"}, body
    assert body["error"] == code
    assert isinstance(body["message"], str) and isinstance(body["details"], list)


def test_500_has_the_documented_shape_and_hides_internals(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a service call that fails unexpectedly
    monkeypatch.setattr(users, "get_user", _boom)
    # WHEN a route reaches it
    response = client.http.get("/users/u-1")
    # THEN 500 in the documented shape, without the exception's text
    assert response.status_code == 500
    body = json.loads(response.body)
    assert body == {"error": "internal_error", "message": "internal server error", "details": []}


def test_405_names_the_allowed_methods(client: Any) -> None:
    response = client.http.put("/accounts/x/deposits", body=b"{}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS, POST"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_with_a_utf8_charset_is_accepted(client: Any, content_type: str) -> None:
    post_json(client, "/users", user_body())
    response = client.http.post(
        "/accounts",
        headers={"Content-Type": content_type},
        body=b'{"currency":"EUR"}',
    )
    assert response.status_code == 201, response.body


def test_a_post_without_a_body_needs_no_content_type(client: Any) -> None:
    # An erasure has no body: no Content-Type is needed (404 here: unknown user).
    assert client.http.post("/gdpr/erasure/nobody").status_code == 404


def test_chalice_local_alone_lacks_gateway_responses(anonymous: Any) -> None:
    # The emulator gap the local stack closes (local_aws/chalice_local.py): plain
    # chalice local answers an unknown route with API Gateway's default 403, not
    # the gateway response post_deploy puts in AWS.
    response = anonymous.http.get("/no/such/route")
    assert response.status_code == 403
    assert json.loads(response.body) == {"message": "Missing Authentication Token"}
