"""CORS at the edge: only configured origins get CORS headers; preflight is answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib.entrypoints import edge
from chalicelib.settings import load_settings

ALLOWED = "https://app.example.com"


@pytest.fixture
def client() -> Iterator[Any]:
    """GIVEN an app with one GET and one POST route, behind the edge with one allowed origin."""
    app = Chalice(app_name="cors-test")

    @app.route("/things", methods=["GET"])
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    @app.route("/things", methods=["POST"], content_types=[edge.JSON_MEDIA_TYPE])
    def add_thing() -> dict[str, str]:
        return {"ok": "added"}

    edge.install(app, [ALLOWED])
    edge.route_other_methods(app)
    with Client(app) as test_client:
        yield test_client


def test_an_allowed_origin_gets_cors_headers(client: Any) -> None:
    response = client.http.get("/things", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Vary"] == "Origin"


def test_a_disallowed_origin_gets_no_cors_headers(client: Any) -> None:
    response = client.http.get("/things", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_preflight_from_an_allowed_origin(client: Any) -> None:
    response = client.http.request(
        "OPTIONS",
        "/things",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS, POST"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "Idempotency-Key" in response.headers["Access-Control-Allow-Headers"]


def test_preflight_from_a_disallowed_origin_gets_no_cors_headers(client: Any) -> None:
    response = client.http.request(
        "OPTIONS",
        "/things",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_errors_carry_cors_headers_for_allowed_origins(client: Any) -> None:
    response = client.http.post(
        "/things", headers={"Origin": ALLOWED, "Content-Type": "text/plain"}, body=b"{}"
    )
    assert response.status_code == 415
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_no_origin_is_allowed_by_default() -> None:
    assert load_settings({}).cors_allowed_origins == ()
    origins = load_settings({"CORS_ALLOWED_ORIGINS": f"{ALLOWED}, https://b.example"})
    assert origins.cors_allowed_origins == (ALLOWED, "https://b.example")
