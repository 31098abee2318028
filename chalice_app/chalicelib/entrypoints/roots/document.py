"""``GET /openapi.json``: the OpenAPI document, built from every route's models on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.entrypoints.openapi import build_document

__all__ = ["openapi_document"]

_documents: dict[int, dict[str, Any]] = {}


def openapi_document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a Chalice app's routes (built once per app)."""
    if id(routes) not in _documents:
        _documents[id(routes)] = build_document(routes)
    return _documents[id(routes)]
