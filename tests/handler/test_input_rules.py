"""Strict input rules at the API (issue #11): amounts, JSON, free text, instants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.handler.helpers import post_json, table_items, user_body

# Words that would show a parser's or a library's internals in an error.
INTERNALS = ("orjson", "Input should", "function-", "pydantic", "Value error", "[key]", "loc")


def _open(client: Any) -> str:
    post_json(client, "/users", user_body())  # an owner must be registered
    response = post_json(client, "/accounts", {"currency": "EUR"})
    assert response.status_code == 201, response.body
    return str(response.json_body["id"])


def _assert_400_naming(response: Any, field: str) -> None:
    assert response.status_code == 400, response.body
    body = response.json_body
    assert set(body) == {"error", "message", "details"}
    assert field in {d["field"] for d in body["details"]}, body
    for detail in body["details"]:
        assert set(detail) == {"field", "message"}
        assert not any(word in detail["message"] for word in INTERNALS), detail


@pytest.mark.parametrize(
    "raw_amount",
    [
        '"1_000"',
        '"١٢٣"',  # Arabic-Indic digits
        '"1.' + "0" * 5000 + '"',
        "1." + "0" * 5000,  # a JSON number with 5,000 trailing zeros
        "1" + "0" * 5000,
        '"1000000000000"',  # 13 integer digits
        "1000000000000",
        '" 12.50"',
        '"12.50\\n"',
        '"12.5.0"',
        "1e400",
        "NaN",
        "-Infinity",
        '"0.00"',
        '"0"',
        "0.001",
        "5e-324",  # greater than 0, but not a whole number of cents
    ],
    ids=lambda raw: raw[:24],
)
def test_amounts_outside_the_rule_are_400(
    client: Any, aws_env: dict[str, str], raw_amount: str
) -> None:
    # GIVEN an open account
    account_id = _open(client)
    before = len(table_items(aws_env["LEDGER_TABLE"]))
    # WHEN a deposit carries an amount outside ^[0-9]+(\.[0-9]{1,2})?$ / 12 digits / > 0
    response = post_json(client, f"/accounts/{account_id}/deposits", f'{{"amount": {raw_amount}}}')
    # THEN 400 naming the body or the amount, in words; nothing appended
    assert response.status_code == 400, response.body
    fields = {d["field"] for d in response.json_body["details"]}
    assert fields & {"amount", "body"}, response.json_body
    _assert_400_naming(response, fields.pop())
    assert len(table_items(aws_env["LEDGER_TABLE"])) == before


@pytest.mark.parametrize(
    ("raw_amount", "balance"),
    [
        ('"999999999999.99"', "999999999999.99"),
        ("12.5", "12.50"),
        ("7", "7.00"),
        ("1E+2", "100.00"),
    ],
)
def test_amounts_inside_the_rule_are_accepted(client: Any, raw_amount: str, balance: str) -> None:
    account_id = _open(client)
    response = post_json(client, f"/accounts/{account_id}/deposits", f'{{"amount": {raw_amount}}}')
    assert response.status_code == 201, response.body
    assert response.json_body["balance"] == balance


def test_duplicate_json_keys_are_400(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN an open account
    account_id = _open(client)
    before = len(table_items(aws_env["LEDGER_TABLE"]))
    # WHEN the body names "amount" twice (a parser would keep the last)
    response = post_json(client, f"/accounts/{account_id}/deposits", '{"amount": 1, "amount": 900}')
    # THEN 400 on the body, nothing appended
    _assert_400_naming(response, "body")
    assert "more than once" in response.json_body["details"][0]["message"]
    assert len(table_items(aws_env["LEDGER_TABLE"])) == before


def test_duplicate_keys_in_nested_objects_are_400(client: Any) -> None:
    raw = json.dumps(user_body())[:-1] + ', "consents": {"marketing": true, "marketing": false}}'
    _assert_400_naming(post_json(client, "/users", raw), "body")


@pytest.mark.parametrize(
    "raw",
    ['{"amount": "\\ud800"}', b'{"amount": "\xff"}', "[" * 100_00 + "]" * 100_00],
    ids=["lone-surrogate", "not-utf8", "deeply-nested"],
)
def test_bodies_that_are_not_text_or_too_deep_are_400(client: Any, raw: str | bytes) -> None:
    account_id = _open(client)
    _assert_400_naming(post_json(client, f"/accounts/{account_id}/deposits", raw), "body")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Ada\x00"),
        ("name", "Ada\u202eecalevoL"),  # right-to-left override
        ("lastname", "\x1b[31mLovelace"),  # ANSI escape
        ("lastname", "Love\r\nlace"),
        ("address", "12 St James's Square\nLondon"),
        ("address", "12 St James's Square \u2066London"),
        ("name", "Ada\u2028Byron"),
    ],
    ids=["NUL", "bidi-override", "ANSI", "CRLF", "LF-address", "bidi-isolate", "line-separator"],
)
def test_control_and_bidi_characters_are_refused(
    client: Any, aws_env: dict[str, str], field: str, value: str
) -> None:
    # WHEN a user registers with a control or bidi formatting character in a name or address
    response = post_json(client, "/users", user_body(**{field: value}))
    # THEN 400 naming that field; nothing stored
    _assert_400_naming(response, field)
    assert table_items(aws_env["USERS_TABLE"]) == []


def test_structured_address_parts_and_keys_are_checked(client: Any) -> None:
    response = post_json(client, "/users", user_body(address={"street": "1 Main\x07St"}))
    _assert_400_naming(response, "address.street")
    response = post_json(client, "/users", user_body(address={"st\u202ereet": "1 Main St"}))
    assert response.status_code == 400
    assert response.json_body["details"][0]["message"].startswith("the key ")


def test_order_ids_and_owner_ids_are_free_text_too(admin: Any) -> None:
    response = post_json(admin, "/accounts", {"owner_id": "u\x1b1", "currency": "EUR"})
    _assert_400_naming(response, "owner_id")


def test_names_and_addresses_are_stored_in_nfc(client: Any) -> None:
    # GIVEN a name written with a combining accent (NFD: "e" + U+0301)
    response = post_json(
        client, "/users", user_body(name="Rene\u0301", address={"city": "Mu\u0308nchen"})
    )
    # THEN the user holds the composed (NFC) spelling
    assert response.status_code == 201, response.body
    user = client.http.get(f"/users/{response.json_body['id']}").json_body
    assert user["name"] == "Ren\u00e9"
    assert user["address"] == {"city": "M\u00fcnchen"}


@pytest.mark.parametrize(
    "at",
    [
        "0999-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "1969-12-31T23:59:59Z",
        "not-a-date",
        "2026-13-01T00:00:00Z",
        "٢٠٢٦-01-01",
        "2026-01-01T00:00:00Z" + "0" * 100,
        "2026-01-01T00:00:00Z%00anything",  # fromisoformat stops reading at a NUL
    ],
)
def test_point_in_time_outside_1970_9999_is_400(client: Any, at: str) -> None:
    # GIVEN an account
    account_id = _open(client)
    # WHEN it is read as of an instant outside 1970..9999 UTC, or not an instant
    response = client.http.get(f"/accounts/{account_id}?at={at.replace('+', '%2B')}")
    # THEN 400 naming `at`, never 500
    _assert_400_naming(response, "at")


def test_point_in_time_at_the_edges_is_answered(client: Any) -> None:
    account_id = _open(client)
    assert client.http.get(f"/accounts/{account_id}?at=9999-12-31T23:59:59Z").status_code == 200
    assert client.http.get(f"/accounts/{account_id}?at=1970-01-01T00:00:00Z").status_code == 404
    # An offset that moves a written 1970..9999 time past an edge reads as that edge.
    late = client.http.get(f"/accounts/{account_id}?at=9999-12-31T23:59:59-23:59")
    assert late.status_code == 200, late.body
    early = client.http.get(f"/accounts/{account_id}?at=1970-01-01T00:00:00%2B05:00")
    assert early.status_code == 404, early.body


@pytest.mark.parametrize("field", ["from", "to"])
@pytest.mark.parametrize(
    "value", ["0999-01-01T00:00:00Z", "0001-01-01T00:00:00%2B23:59", "10000-01-01", "x"]
)
def test_search_times_outside_1970_9999_are_400(
    admin: Any, sqlite_search_index: Any, field: str, value: str
) -> None:
    _assert_400_naming(admin.http.get(f"/search?{field}={value}"), field)


def test_search_bounds_far_in_the_future_are_answered(
    admin: Any, sqlite_search_index: Any
) -> None:
    response = admin.http.get("/search?from=2262-05-01T00:00:00Z&to=9999-12-31T23:59:59Z")
    assert response.status_code == 200, response.body
    assert response.json_body == {"total": 0, "events": []}


@pytest.mark.parametrize(
    "query", ["to=", "from=%20&to=", "from=2026-11-28&to=2026-11-27", "size=&q="]
)
def test_search_blank_bounds_and_an_empty_range_are_answered(
    admin: Any, sqlite_search_index: Any, query: str
) -> None:
    # WHEN a bound is blank (an empty search box), or `to` is before `from`
    response = admin.http.get(f"/search?{query}")
    # THEN 200: a blank bound is no bound; an empty range holds no event
    assert response.status_code == 200, response.body
    if "2026-11-28" in query:
        assert response.json_body == {"total": 0, "events": []}


def test_a_purchase_of_zero_is_400(client: Any) -> None:
    user = post_json(client, "/users", user_body()).json_body
    body = {"order_id": "o-1", "amount": "0", "currency": "EUR"}
    _assert_400_naming(post_json(client, f"/users/{user['id']}/purchases", body), "amount")


def test_validation_details_are_words(client: Any) -> None:
    # WHEN every field of a registration is wrong in a different way
    body = {
        "name": 5,
        "lastname": "",
        "email": "x",
        "address": ["x"],
        "loyalty": "yes",
        "consents": {"marketing": 1, "other": True},
    }
    response = post_json(client, "/users", body)
    # THEN each field is named with its rule in words
    _assert_400_naming(response, "name")
    messages = {d["field"]: d["message"] for d in response.json_body["details"]}
    assert messages["name"] == "must be a string"
    assert messages["lastname"] == "must not be empty"
    assert messages["loyalty"] == "must be true or false"
    assert messages["consents.marketing"] == "must be true or false"
    assert messages["consents.other"] == "is not an allowed field"
    assert messages["address"] == "must be a string"
