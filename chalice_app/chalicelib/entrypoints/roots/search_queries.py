"""The API's ``GET /search``: query parameters validated (pydantic), then the search index.

app.py's ``/search`` route calls ``search_events`` (through
``roots.search_queries``, on its first request). The search index itself is
the search role's (roots.search), which imports no pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.search import IndexNotFound, SearchUnavailable
from chalicelib.adapters.search.documents import shown_event
from chalicelib.domain.access import ADMIN, Caller, authorize, group
from chalicelib.entrypoints.roots import search
from chalicelib.entrypoints.search_params import parse_search_query

__all__ = ["search_events"]


@authorize(group(ADMIN))
def search_events(caller: Caller, query_params: Mapping[str, str] | None) -> dict[str, Any]:
    """``GET /search``: ``{"total", "events"}`` newest first; ValidationFailed on bad params."""
    query = parse_search_query(query_params)
    try:
        result = search.search_index().search(query)
    except IndexNotFound as exc:
        raise SearchUnavailable(f"the search index is not set up: {exc}") from exc
    # Documents indexed before a type's latest version are shown as that version.
    return {"total": result.total, "events": [shown_event(e) for e in result.events]}
