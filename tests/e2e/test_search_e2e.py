"""End to end: commands become searchable through Firehose -> the local search index."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def operator(auth_headers: AuthHeaders) -> dict[str, str]:
    """An operator's headers: GET /search is admin-only."""
    return auth_headers("search-e2e-operator", "admin")


def _search(stack: LocalStackProcess, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/search", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _post(
    stack: LocalStackProcess, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = requests.post(f"{stack.api_url}{path}", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _register(stack: LocalStackProcess, headers: dict[str, str], lastname: str) -> str:
    user = _post(
        stack,
        headers,
        "/users",
        {
            "name": "Zoë",
            "lastname": lastname,
            "email": f"{lastname.lower()}@example.com",
            "address": {"street": "Rua Augusta 1", "city": "Lisboa"},
        },
    )
    return str(user["id"])


def test_commands_become_searchable_within_seconds(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders, operator: dict[str, str]
) -> None:
    # GIVEN a user registered and an account opened over HTTP
    started = time.monotonic()
    lastname = f"Delay{uuid.uuid4().hex[:8]}"
    person = auth_headers(lastname.lower())
    user_id = _register(local_stack, person, lastname)
    account_id = _post(local_stack, person, "/accounts", {"currency": "EUR"})["id"]

    # WHEN searching for the user's events until they show up
    def found() -> list[dict[str, Any]]:
        return list(_search(local_stack, operator, subject=user_id)["events"])

    events = wait_for(found, timeout=20, interval=0.05)
    delay = time.monotonic() - started
    print(f"\nindexing delay (POST /users -> GET /search finds it): {delay:.2f} s")
    # THEN it came within a few seconds and filters and free text find both commands' events
    assert delay < 10
    assert [e["type"] for e in events] == ["com.example.user.created"]
    wait_for(
        lambda: _search(local_stack, operator, subject=account_id)["total"],
        timeout=20,
        interval=0.1,
    )
    by_type = _search(local_stack, operator, type="com.example.account.opened", subject=account_id)
    assert [e["data"]["owner_id"] for e in by_type["events"]] == [user_id]
    # the user id is a value in both events' data (user_id, owner_id): newest first
    by_text = _search(local_stack, operator, q=user_id)
    assert [e["type"] for e in by_text["events"]] == [
        "com.example.account.opened",
        "com.example.user.created",
    ]


def test_a_user_is_found_by_name(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders, operator: dict[str, str]
) -> None:
    # GIVEN a registered user whose event is indexed
    lastname = f"Named{uuid.uuid4().hex[:8]}"
    user_id = _register(local_stack, auth_headers(lastname.lower()), lastname)
    (event,) = wait_for(
        lambda: _search(local_stack, operator, subject=user_id)["events"], timeout=20, interval=0.1
    )
    # (the index holds the decrypted fields: the local Firehose transform opened them)
    assert event["data"]["lastname"] == lastname
    # WHEN searching by first and last name, any case and accents
    body = _search(local_stack, operator, q=f"ZOE {lastname.lower()}")
    # THEN the user's event is found
    assert [e["subject"] for e in body["events"]] == [user_id]


def test_search_rejects_bad_parameters_over_http(
    local_stack: LocalStackProcess, operator: dict[str, str]
) -> None:
    response = requests.get(
        f"{local_stack.api_url}/search",
        params={"size": "1000", "from": "later"},
        headers=operator,
        timeout=30,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert {d["field"] for d in body["details"]} == {"size", "from"}
