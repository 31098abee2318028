"""Authorization: people reach only their own data; operators reach everyone's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.handler.helpers import ApiClient, post_json, register, table_items

CONSUMERS = [
    ("loyalty_enrolment", "LOYALTY_QUEUE"),
    ("gdpr_consent_record", "GDPR_QUEUE"),
    ("crm_contact_sync", "CRM_QUEUE"),
]


def _deliver_registration(client: Any, env: dict[str, str], user_id: str) -> None:
    (item,) = [
        i
        for i in table_items(env["LEDGER_TABLE"])
        if i["aggregate_id"] == user_id and i["version"] == 1
    ]
    for handler, queue_var in CONSUMERS:
        client.lambda_.invoke(
            handler,
            client.events.generate_sqs_event(
                message_bodies=[item["event"]], queue_name=env[queue_var]
            ),
        )


@pytest.fixture
def bob(as_caller: Callable[..., ApiClient], aws_env: dict[str, str]) -> dict[str, Any]:
    """GIVEN bob: registered (loyalty, marketing consent), seen by the consumers, with an
    account holding 100.00 and one purchase."""
    api = as_caller("bob")
    register(api, name="Bob")
    _deliver_registration(api, aws_env, "bob")
    account = post_json(api, "/accounts", {"currency": "EUR"}).json_body
    assert post_json(api, f"/accounts/{account['id']}/deposits", {"amount": 100}).status_code == 201
    purchase = {"order_id": "o-1", "amount": "10.00", "currency": "EUR"}
    assert post_json(api, "/users/bob/purchases", purchase).status_code == 201
    return {"api": api, "account": account["id"]}


@pytest.fixture
def ada(client: ApiClient) -> ApiClient:
    """GIVEN ada, a registered customer."""
    register(client)
    return client


def _bobs_data(admin: ApiClient, account_id: str, env: dict[str, str]) -> str:
    reads = [
        admin.http.get(path).json_body
        for path in (
            "/users/bob",
            "/loyalty/bob",
            "/gdpr/consents/bob",
            "/crm/contacts/bob",
            f"/accounts/{account_id}",
            f"/accounts/{account_id}/events",
        )
    ]
    return json.dumps([reads, table_items(env["LEDGER_TABLE"])], sort_keys=True, default=str)


def _requests(user_id: str, account_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route that touches a person's or an account's data, as (method, path, body)."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [
        ("GET", f"/users/{user_id}", None),
        ("GET", f"/loyalty/{user_id}", None),
        ("GET", f"/gdpr/consents/{user_id}", None),
        ("GET", f"/crm/contacts/{user_id}", None),
        ("POST", f"/users/{user_id}/purchases", {"order_id": "x", "amount": 1, "currency": "EUR"}),
        ("GET", f"/accounts/{account_id}", None),
        ("GET", f"/accounts/{account_id}?at={now}", None),
        ("GET", f"/accounts/{account_id}/events", None),
        ("POST", f"/accounts/{account_id}/deposits", {"amount": 5}),
        ("POST", f"/accounts/{account_id}/withdrawals", {"amount": 5}),
        # Last: after an erasure, every command about the person is 404.
        ("POST", f"/gdpr/erasure/{user_id}", {}),
    ]


def _send(api: ApiClient, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if body is None:
        return api.http.request(method, path)
    return post_json(api, path, body)


def test_a_customer_reaches_nothing_of_another_person(
    ada: ApiClient, bob: dict[str, Any], admin: ApiClient, aws_env: dict[str, str]
) -> None:
    before = _bobs_data(admin, bob["account"], aws_env)
    unknown = _requests("nobody", "no-such-account")
    # WHEN ada reads, changes or erases anything of bob's
    for (method, path, body), (_, unknown_path, _) in zip(
        _requests("bob", bob["account"]), unknown, strict=True
    ):
        response = _send(ada, method, path, body)
        # THEN 404, with exactly the body an unknown id gets
        assert response.status_code == 404, (path, response.body)
        assert response.json_body == _send(ada, method, unknown_path, body).json_body, path
        assert set(response.json_body) == {"error", "message", "details"}
    # AND bob's data is unchanged, and nothing was appended anywhere
    assert _bobs_data(admin, bob["account"], aws_env) == before


def test_an_admin_reaches_everything_of_everyone(
    bob: dict[str, Any], admin: ApiClient, aws_env: dict[str, str]
) -> None:
    # WHEN an operator runs every request on bob's data
    statuses = [
        _send(admin, method, path, body).status_code
        for method, path, body in _requests("bob", bob["account"])
    ]
    # THEN every one succeeds (the erasure last, so the others saw bob)
    assert statuses == [200, 200, 200, 200, 201, 200, 200, 200, 201, 201, 202]
    assert admin.http.get(f"/accounts/{bob['account']}").json_body["balance"] == "100.00"


def test_a_person_reaches_all_of_their_own(bob: dict[str, Any]) -> None:
    statuses = [
        _send(bob["api"], method, path, body).status_code
        for method, path, body in _requests("bob", bob["account"])
    ]
    assert statuses == [200, 200, 200, 200, 201, 200, 200, 200, 201, 201, 202]


def test_marketing_reads_crm_contacts_and_nothing_else(
    as_caller: Callable[..., ApiClient], bob: dict[str, Any]
) -> None:
    marketer = as_caller("mia", "marketing")
    # THEN the CRM contact of anyone is readable
    contact = marketer.http.get("/crm/contacts/bob")
    assert (contact.status_code, contact.json_body["name"]) == (200, "Bob")
    # AND nothing else of theirs: 404 as for an unknown id, search 403
    for method, path, body in _requests("bob", bob["account"]):
        if not path.startswith("/crm/"):
            assert _send(marketer, method, path, body).status_code == 404, path
    assert marketer.http.get("/search").status_code == 403


def test_search_is_for_admins_only(
    ada: ApiClient, admin: ApiClient, sqlite_search_index: Any
) -> None:
    response = ada.http.get("/search?q=bob")
    assert response.status_code == 403
    assert response.json_body["error"] == "forbidden"
    assert set(response.json_body) == {"error", "message", "details"}
    assert admin.http.get("/search?q=bob").status_code == 200


def test_accounts_belong_to_the_caller_by_default(ada: ApiClient, aws_env: dict[str, str]) -> None:
    # WHEN ada opens an account without naming an owner
    account = post_json(ada, "/accounts", {"currency": "EUR"})
    # THEN she owns it, in the response, the read and the account.opened event
    assert account.status_code == 201
    assert set(account.json_body) == {"id", "owner_id", "currency", "balance", "version"}
    assert (account.json_body["owner_id"], account.json_body["balance"]) == ("ada", "0.00")
    assert ada.http.get(f"/accounts/{account.json_body['id']}").json_body["owner_id"] == "ada"
    (opened,) = ada.http.get(f"/accounts/{account.json_body['id']}/events").json_body["events"]
    assert opened["data"]["owner_id"] == "ada"


def test_only_an_admin_opens_an_account_for_someone_else(
    ada: ApiClient, bob: dict[str, Any], admin: ApiClient, aws_env: dict[str, str]
) -> None:
    before = len(table_items(aws_env["LEDGER_TABLE"]))
    # WHEN ada opens an account for bob
    refused = post_json(ada, "/accounts", {"currency": "EUR", "owner_id": "bob"})
    # THEN 403 and nothing was appended
    assert (refused.status_code, refused.json_body["error"]) == (403, "forbidden")
    assert len(table_items(aws_env["LEDGER_TABLE"])) == before
    # AND an admin may, and bob then owns and reaches it
    opened = post_json(admin, "/accounts", {"currency": "EUR", "owner_id": "bob"})
    assert (opened.status_code, opened.json_body["owner_id"]) == (201, "bob")
    assert bob["api"].http.get(f"/accounts/{opened.json_body['id']}").status_code == 200


@pytest.mark.parametrize(("caller", "owner"), [("newcomer", None), ("admin", "nobody")])
def test_the_owner_must_be_a_registered_user(
    request: pytest.FixtureRequest,
    as_caller: Callable[..., ApiClient],
    aws_env: dict[str, str],
    caller: str,
    owner: str | None,
) -> None:
    api = request.getfixturevalue("admin") if caller == "admin" else as_caller(caller)
    body = {"currency": "EUR"} if owner is None else {"currency": "EUR", "owner_id": owner}
    response = post_json(api, "/accounts", body)
    # THEN 404 naming the owner, as for an erased owner (test_erasure_ends_identity.py)
    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"
    assert [d["field"] for d in response.json_body["details"]] == ["owner_id"]
    assert set(response.json_body) == {"error", "message", "details"}
    assert table_items(aws_env["LEDGER_TABLE"]) == []
