"""End to end: a person registers their identity's email, and erasure ends the identity.

Over HTTP on the local stack with real tokens of its user pool (moto's Cognito):
a foreign email is refused and mailed nothing; after an erasure the person's
old token reaches no command, their Cognito user is deleted, and the same
email signs up again as a new identity with a new id.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from local_aws import stack_state
from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

OPERATOR = "identity-e2e-operator@example.com"


def _post(
    stack: LocalStackProcess, headers: dict[str, str], path: str, body: dict[str, Any]
) -> requests.Response:
    return requests.post(f"{stack.api_url}{path}", json=body, headers=headers, timeout=30)


def _person(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "lastname": "Identity", "address": "1 Token Road", **fields}


def _sent_to(stack: LocalStackProcess, email: str) -> list[dict[str, Any]]:
    """What moto's SES recorded as sent to ``email`` (its /moto-api/data.json)."""
    data = requests.get(f"{stack.aws_url}/moto-api/data.json", timeout=30).json()
    messages = data.get("ses", {}).get("Message", [])
    return [m for m in messages if email in m["destinations"].get("ToAddresses", [])]


def _cognito_user(stack: LocalStackProcess, email: str) -> dict[str, str] | None:
    """The attributes of the pool's user with ``email``; None if there is none."""
    pool_id = stack_state.load(stack.aws_port, stack.state_dir)["COGNITO_USER_POOL_ID"]
    try:
        user = stack.client("cognito-idp").admin_get_user(UserPoolId=pool_id, Username=email)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "UserNotFoundException", exc
        return None
    return {a["Name"]: a["Value"] for a in user["UserAttributes"]}


def test_a_foreign_email_is_refused_and_nothing_is_sent_to_it(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    run = uuid.uuid4().hex[:10]
    bob, carol = f"bob.{run}@example.com", f"carol.{run}@example.com"
    bobs = auth_headers(bob)
    # WHEN bob registers with carol's email
    squat = _post(local_stack, bobs, "/users", _person("Bob", email=carol))
    # THEN 422 email_mismatch
    assert squat.status_code == 422, squat.text
    assert squat.json()["error"] == "email_mismatch"
    # AND bob registers with his own; once his welcome email went out, carol got none
    own = _post(local_stack, bobs, "/users", _person("Bob"))
    assert (own.status_code, own.json()["email"]) == (201, bob), own.text
    wait_for(lambda: _sent_to(local_stack, bob), timeout=60)
    assert _sent_to(local_stack, carol) == []
    # AND carol's email is still hers to register
    hers = _post(local_stack, auth_headers(carol), "/users", _person("Carol", email=carol))
    assert (hers.status_code, hers.json()["email"]) == (201, carol), hers.text


def test_erasure_ends_the_identity_and_the_email_may_register_anew(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN erin, registered with an account holding 50.00
    email = f"erin.{uuid.uuid4().hex[:10]}@example.com"
    erins = auth_headers(email)
    operator = auth_headers(OPERATOR, "admin")
    user = _post(local_stack, erins, "/users", _person("Erin")).json()
    account = _post(local_stack, erins, "/accounts", {"currency": "EUR"}).json()
    deposit = _post(local_stack, erins, f"/accounts/{account['id']}/deposits", {"amount": "50"})
    assert deposit.status_code == 201, deposit.text
    # WHEN she erases herself
    erased = _post(local_stack, erins, f"/gdpr/erasure/{user['id']}", {})
    assert erased.status_code == 202, erased.text
    # THEN her still-valid token's purchase, account opening, deposit and withdrawal are 404
    purchase = {"order_id": "after", "amount": "1.00", "currency": "EUR"}
    answers = {
        "purchase": _post(local_stack, erins, f"/users/{user['id']}/purchases", purchase),
        "open account": _post(local_stack, erins, "/accounts", {"currency": "EUR"}),
        "deposit": _post(local_stack, erins, f"/accounts/{account['id']}/deposits", {"amount": 1}),
        "withdrawal": _post(
            local_stack, erins, f"/accounts/{account['id']}/withdrawals", {"amount": 1}
        ),
    }
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 404)
    # AND an operator still reads her balance
    balance = requests.get(
        f"{local_stack.api_url}/accounts/{account['id']}", headers=operator, timeout=30
    )
    assert (balance.status_code, balance.json()["balance"]) == (200, "50.00")
    # AND her Cognito user is deleted
    wait_for(lambda: _cognito_user(local_stack, email) is None, timeout=60, interval=0.5)
    # AND the same email signs up again as a new identity and registers with a new id
    again = _post(local_stack, auth_headers(email), "/users", _person("Erin"))
    assert again.status_code == 201, again.text
    assert again.json()["email"] == email
    assert again.json()["id"] != user["id"]
    assert (_cognito_user(local_stack, email) or {}).get("sub") == again.json()["id"]


def test_the_readmes_token_alice_registers(local_stack: LocalStackProcess) -> None:
    # GIVEN the README's `token alice` (a plain name), as a subprocess, last line the token
    token = local_stack.token("alice")
    # WHEN alice registers with the README's body
    response = _post(
        local_stack,
        {"Authorization": f"Bearer {token}"},
        "/users",
        {"name": "Alice", "lastname": "Liddell", "address": "Oxford"},
    )
    # THEN 201 with the email her identity has
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "alice@example.com"
