"""End to end with real tokens of the local user pool: who reaches what, and racing keys."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local_aws import stack_state
from local_aws.stack_process import LocalStackProcess
from local_aws.token_signer import TokenSigner
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _call(
    stack: LocalStackProcess,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> requests.Response:
    return requests.request(
        method, f"{stack.api_url}{path}", json=body, headers=headers or {}, timeout=30
    )


def _register(stack: LocalStackProcess, headers: dict[str, str], name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "lastname": "E2e",
        "address": "1 Loop Road",
        "loyalty": True,
        "consents": {"marketing": True},
    }
    response = _call(stack, "POST", "/users", headers, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_anonymous_and_forged_requests_are_401_health_is_public(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN a registered person
    user = _register(local_stack, auth_headers("authz-ivy"), "Ivy")
    # THEN her profile needs her token: none, or one of her pool and client signed with
    # another key under the pool's kid, is 401
    published = stack_state.load(local_stack.aws_port, local_stack.log_path.parent)
    pool_id = published["COGNITO_USER_POOL_ID"]
    impostor = TokenSigner(pool_id, published["COGNITO_APP_CLIENT_ID"], kid="dummy")
    assert impostor.issuer == published["COGNITO_ISSUER"]
    forged = impostor.token(user["id"])
    for headers in ({}, {"Authorization": f"Bearer {forged}"}):
        response = _call(local_stack, "GET", f"/users/{user['id']}", headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    assert _call(local_stack, "GET", f"/users/{user['id']}", auth_headers("authz-ivy")).ok
    assert _call(local_stack, "GET", "/health").json() == {"status": "ok"}


def test_a_stranger_reaches_nothing_an_admin_everything(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN jack with an account of 50.00, and a stranger kim
    jack_headers, kim = auth_headers("authz-jack"), auth_headers("authz-kim")
    jack = _register(local_stack, jack_headers, "Jack")
    account = _call(local_stack, "POST", "/accounts", jack_headers, {"currency": "EUR"}).json()
    assert account["owner_id"] == jack["id"]
    path = f"/accounts/{account['id']}"
    assert _call(local_stack, "POST", f"{path}/deposits", jack_headers, {"amount": 50}).ok
    # WHEN kim reads, moves or erases anything of jack's
    attempts = [
        ("GET", f"/users/{jack['id']}", None),
        ("GET", path, None),
        ("GET", f"{path}/events", None),
        ("POST", f"{path}/withdrawals", {"amount": 50}),
        ("POST", f"/gdpr/erasure/{jack['id']}", None),
    ]
    for method, attempt, body in attempts:
        response = _call(local_stack, method, attempt, kim, body)
        # THEN 404, as for an unknown id
        assert response.status_code == 404, (attempt, response.text)
    # AND jack's money is still there; search is for admins only
    assert _call(local_stack, "GET", path, jack_headers).json()["balance"] == "50.00"
    assert _call(local_stack, "GET", "/search", kim).status_code == 403
    admin = auth_headers("authz-operator", "admin")
    assert _call(local_stack, "GET", path, admin).json()["owner_id"] == jack["id"]
    assert _call(local_stack, "GET", "/search", admin).status_code == 200


def test_racing_retries_of_one_key_append_one_event(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN an account (of a new person each run)
    name = f"Lea{uuid.uuid4().hex[:8]}"
    headers = auth_headers(name.lower())
    _register(local_stack, headers, name)
    account = _call(local_stack, "POST", "/accounts", headers, {"currency": "EUR"}).json()
    path = f"/accounts/{account['id']}/deposits"
    keyed = {**headers, "Idempotency-Key": "race-1"}
    # WHEN 16 requests with one key but two different bodies race
    bodies = [{"amount": 5 if i % 2 else 7} for i in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda b: _call(local_stack, "POST", path, keyed, b), bodies))
    # THEN exactly one deposit happened; same-body requests got its response, others 422
    events = _call(local_stack, "GET", f"/accounts/{account['id']}/events", headers).json()
    assert len(events["events"]) == 2
    winner_amount = events["events"][1]["data"]["amount"]
    for body, response in zip(bodies, responses, strict=True):
        if f"{body['amount']}.00" == winner_amount:
            assert response.status_code == 201, response.text
            assert response.json()["event_id"] == events["events"][1]["id"]
        else:
            assert response.status_code == 422, response.text
            assert response.json()["error"] == "idempotency_key_reused"
