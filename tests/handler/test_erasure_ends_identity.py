"""Erasure ends the identity: the erased person's commands answer 404, their
Cognito user is deleted, and their email may register anew under a new identity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.domain.events import UserErased, new_event
from local_aws.identities import UserPoolIdentities
from local_aws.token_signer import TokenSigner
from tests.handler.helpers import (
    ApiClient,
    ledger_events,
    post_json,
    register,
    table_items,
    user_body,
)


@pytest.fixture
def erased(client: ApiClient, admin: ApiClient) -> dict[str, Any]:
    """GIVEN ada, registered with an account holding 50.00, then erased (her token still valid)."""
    register(client)
    account = post_json(client, "/accounts", {"currency": "EUR"}).json_body
    assert (
        post_json(client, f"/accounts/{account['id']}/deposits", {"amount": "50"}).status_code
        == 201
    )
    assert client.http.post(f"/gdpr/erasure/{client.sub}").status_code == 202
    return {"api": client, "account_id": account["id"]}


def _not_found(response: Any) -> None:
    assert response.status_code == 404, response.json_body
    assert response.json_body["error"] == "not_found"


def test_the_erased_persons_token_reaches_no_command(
    erased: dict[str, Any], aws_env: dict[str, str]
) -> None:
    api, account_id = erased["api"], erased["account_id"]
    before = table_items(aws_env["LEDGER_TABLE"])
    # WHEN her still-valid token makes a purchase, opens an account, deposits and withdraws
    answers = [
        post_json(
            api,
            f"/users/{api.sub}/purchases",
            {"order_id": "o-1", "amount": "10", "currency": "EUR"},
        ),
        post_json(api, "/accounts", {"currency": "EUR"}),
        post_json(api, f"/accounts/{account_id}/deposits", {"amount": "5"}),
        post_json(api, f"/accounts/{account_id}/withdrawals", {"amount": "5"}),
    ]
    # THEN each answers 404 as for an unknown person or account, and nothing was appended
    for response in answers:
        _not_found(response)
    assert table_items(aws_env["LEDGER_TABLE"]) == before
    # AND she cannot read her account either
    _not_found(api.http.get(f"/accounts/{account_id}"))


def test_an_erased_persons_commands_are_404_for_operators_too_but_balances_stay_readable(
    erased: dict[str, Any], admin: ApiClient, aws_env: dict[str, str]
) -> None:
    account_id, sub = erased["account_id"], erased["api"].sub
    # WHEN an operator deposits into her account, opens one for her and records her purchase
    answers = [
        post_json(admin, f"/accounts/{account_id}/deposits", {"amount": "5"}),
        post_json(admin, "/accounts", {"currency": "EUR", "owner_id": sub}),
        post_json(
            admin, f"/users/{sub}/purchases", {"order_id": "o-2", "amount": "1", "currency": "EUR"}
        ),
    ]
    # THEN 404 each, and her account's history ends before the erasure
    for response in answers:
        _not_found(response)
    assert [e["type"] for e in ledger_events(aws_env, account_id)] == [
        "com.example.account.opened",
        "com.example.account.deposited",
    ]
    # AND the operator still reads her balance and its events (financial records are kept)
    account = admin.http.get(f"/accounts/{account_id}")
    assert (account.status_code, account.json_body["balance"]) == (200, "50.00")
    assert admin.http.get(f"/accounts/{account_id}/events").status_code == 200


def test_the_same_email_registers_anew_under_a_new_identity(
    erased: dict[str, Any], as_caller: Callable[..., ApiClient], identity_pool: TokenSigner
) -> None:
    # GIVEN ada's email signed up again: a new identity (new sub) with the same email
    identity_pool.set_email("ada-again", identity_pool.email_of(erased["api"].sub))
    again = as_caller("ada-again")
    # WHEN the new identity registers
    response = post_json(again, "/users", user_body(name="Ada"))
    # THEN 201 with the new id and the same email
    assert response.status_code == 201, response.json_body
    assert response.json_body["id"] == "ada-again"
    assert response.json_body["email"] == "ada@example.com"
    # AND the old identity is still erased: it cannot register again
    old = post_json(erased["api"], "/users", user_body())
    assert (old.status_code, old.json_body["error"]) == (409, "already_registered")


# ------------------------------------------------ the identity_deletion subscriber


@pytest.fixture
def pool(aws_env: dict[str, str]) -> UserPoolIdentities:
    """GIVEN the platform's user pool in moto (the API's settings name it)."""
    return UserPoolIdentities(
        boto3.client("cognito-idp"),
        aws_env["COGNITO_USER_POOL_ID"],
        aws_env["COGNITO_APP_CLIENT_ID"],
    )


@pytest.fixture
def lambdas(chalice_app: ModuleType) -> Iterator[Any]:
    """The test client's Lambda invoker and event factory (no token needed)."""
    from chalice.test import Client

    with Client(chalice_app.app) as test_client:
        yield test_client


def _sub(pool: UserPoolIdentities, email: str) -> str:
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=pool.pool_id, Username=email)
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def _erasure_message(lambdas: Any, aws_env: dict[str, str], sub: str) -> dict[str, Any]:
    event = new_event(
        UserErased(user_id=sub, loyalty=False, marketing=False), subject=sub, version=2
    )
    return dict(
        lambdas.events.generate_sqs_event(
            message_bodies=[event.to_json().decode()],
            queue_name=aws_env["IDENTITY_DELETION_QUEUE"],
        )
    )


def _exists(pool: UserPoolIdentities, username: str) -> bool:
    try:
        boto3.client("cognito-idp").admin_get_user(UserPoolId=pool.pool_id, Username=username)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "UserNotFoundException"
        return False
    return True


def test_the_erased_persons_cognito_user_is_deleted_once(
    pool: UserPoolIdentities, lambdas: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN an identity in the pool and the user.erased event of its sub
    pool.ensure_user("erin@example.com")
    sub = _sub(pool, "erin@example.com")
    message = _erasure_message(lambdas, aws_env, sub)
    # WHEN the subscriber receives it
    lambdas.lambda_.invoke("identity_deletion", message)
    # THEN the Cognito user is gone, and the deletion is recorded without personal data
    assert not _exists(pool, sub)
    (record,) = table_items(aws_env["IDENTITY_DELETIONS_TABLE"])
    assert (record["user_id"], record["version"], record["outcome"]) == (sub, 2, "deleted")
    assert "erin" not in repr(record)
    # AND when the same email signs up again (a new sub), a redelivery leaves it alone
    pool.ensure_user("erin@example.com")
    lambdas.lambda_.invoke("identity_deletion", message)
    assert _exists(pool, "erin@example.com")
    assert _sub(pool, "erin@example.com") != sub
    assert len(table_items(aws_env["IDENTITY_DELETIONS_TABLE"])) == 1


def test_an_identity_already_gone_is_recorded_as_absent(
    pool: UserPoolIdentities, lambdas: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN the erasure of a sub the pool does not hold (deleted before a crash, say)
    message = _erasure_message(lambdas, aws_env, "00000000-0000-0000-0000-000000000000")
    # WHEN the subscriber receives it
    lambdas.lambda_.invoke("identity_deletion", message)
    # THEN it succeeds and records that the identity was absent
    (record,) = table_items(aws_env["IDENTITY_DELETIONS_TABLE"])
    assert record["outcome"] == "absent"
