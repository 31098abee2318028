"""The published contract against the running local stack: the error shape and the document.

Schemathesis runs every check in test_api_fuzz_e2e.py.
"""

from __future__ import annotations

import json

import pytest
import requests

from local_aws.stack_process import LocalStackProcess
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/no/such/route", {}, None, 404),
        ("POST", "/users/x/purchases/extra", {}, b"{}", 404),
        ("PUT", "/users", {"Content-Type": "application/json"}, b"{}", 405),
        ("DELETE", "/accounts/x", {}, None, 405),
        ("TRACE", "/health", {}, None, 405),
        ("QUERY", "/search", {}, None, 405),
        ("POST", "/accounts", {"Content-Type": "text/xml"}, b"<a/>", 415),
        ("POST", "/accounts", {"Content-Type": "text/plain"}, b"{}", 415),
        (
            "POST",
            "/accounts",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"owner_id=u&currency=EUR",
            415,
        ),
        ("POST", "/accounts", {"Content-Type": "application/json"}, b"x" * 70_000, 413),
        ("POST", "/accounts", {"Content-Type": "application/json"}, b'{"a":1,"a":2}', 400),
    ],
)
def test_chalice_local_answers_every_error_in_the_documented_shape(
    local_stack: LocalStackProcess,
    auth_headers: AuthHeaders,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    response = requests.request(
        method,
        f"{local_stack.api_url}{path}",
        headers={**auth_headers("shape-walker"), **headers},
        data=body,
        timeout=30,
    )
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(json.loads(response.text)) == {"error", "message", "details"}


def test_the_document_is_public(local_stack: LocalStackProcess) -> None:
    response = requests.get(f"{local_stack.api_url}/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("at", ["0999-01-01T00:00:00Z", "0001-01-01T00:00:00%2B23:59"])
def test_point_in_time_outside_1970_9999_is_400_over_http(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders, at: str
) -> None:
    # GIVEN a registered person with an account
    headers = auth_headers("time-traveller")
    base = local_stack.api_url
    requests.post(
        f"{base}/users",
        json={"name": "T", "lastname": "T", "address": "x"},
        headers=headers,
        timeout=30,
    )
    account = requests.post(
        f"{base}/accounts", json={"currency": "EUR"}, headers=headers, timeout=30
    )
    assert account.status_code == 201, account.text
    # WHEN it is read as of an instant outside 1970..9999 UTC
    url = f"{base}/accounts/{account.json()['id']}?at={at}"
    response = requests.get(url, headers=headers, timeout=30)
    # THEN 400 naming `at` (it was a 500 before)
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "at"
