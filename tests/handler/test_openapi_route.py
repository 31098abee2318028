"""GET /openapi.json through the API in-process (the document: tests/unit/test_openapi.py)."""

from __future__ import annotations

import json
from typing import Any

import write_openapi


def test_the_api_serves_the_document_without_a_token(anonymous: Any) -> None:
    response = anonymous.http.get("/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.body) == json.loads(write_openapi.DEFAULT_OUTPUT.read_text())
