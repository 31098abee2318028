"""GET /search through chalice.test.Client with the SQLite search backend."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.search.sqlite import SqliteSearchIndex


@pytest.fixture
def search_index(
    aws_env: dict[str, str], sqlite_search_index: SqliteSearchIndex
) -> SqliteSearchIndex:
    """GIVEN the provisioned API configured for a SQLite search index with its alias set up."""
    return sqlite_search_index


@pytest.fixture
def client(admin: Any) -> Any:
    """GIVEN an operator (GET /search is admin-only)."""
    return admin


def _event(n: int, type_: str = "com.example.user.created", **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"00000000-0000-0000-0000-{n:012d}",
        "source": "/users",
        "type": type_,
        "time": f"2026-03-01T10:00:{n:02d}.000000Z",
        "subject": f"user-{n}",
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": data or {"name": f"Name{n}", "lastname": "Silva"},
    }


def _get(client: Any, params: dict[str, str] | None = None) -> tuple[int, Any]:
    path = "/search" + (f"?{urlencode(params)}" if params else "")
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def test_search_returns_total_and_events_newest_first(
    client: Any, search_index: SqliteSearchIndex
) -> None:
    # GIVEN three indexed events
    events = [_event(1), _event(2), _event(3, "com.example.purchase.made", order_id="o-1")]
    search_index.index_events(events)
    # WHEN searching without parameters
    status, body = _get(client)
    # THEN 200 with every event, newest first, as CloudEvents
    assert status == 200
    assert body == {"total": 3, "events": [events[2], events[1], events[0]]}


def test_search_filters_and_free_text(client: Any, search_index: SqliteSearchIndex) -> None:
    search_index.index_events([_event(1), _event(2), _event(3, name="Zoë", lastname="Costa")])
    status, body = _get(client, {"type": "com.example.user.created", "q": "zoe costa", "size": "5"})
    assert status == 200
    assert (body["total"], [e["subject"] for e in body["events"]]) == (1, ["user-3"])
    status, body = _get(client, {"subject": "user-2", "to": "2026-03-01T10:00:02Z"})
    assert (status, body["total"]) == (200, 1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"size": "0"}, "size"),
        ({"size": "101"}, "size"),
        ({"size": "ten"}, "size"),
        ({"size": "2.5"}, "size"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "1969-12-31T23:59:59Z"}, "from"),
        ({"q": "x" * 501}, "q"),
        ({"type": "t" * 257}, "type"),
        ({"sort": "time"}, "sort"),
    ],
)
def test_bad_parameters_get_400_with_the_documented_shape(
    client: Any, search_index: SqliteSearchIndex, params: dict[str, str], field: str
) -> None:
    status, body = _get(client, params)
    assert status == 400
    assert body["error"] == "validation_error"
    assert body["message"] == "invalid search parameters"
    assert [d["field"] for d in body["details"]] == [field]
    assert all(isinstance(d["message"], str) and d["message"] for d in body["details"])


def test_every_bad_parameter_is_reported(client: Any, search_index: SqliteSearchIndex) -> None:
    status, body = _get(client, {"size": "0", "from": "x", "to": "y", "page": "2"})
    assert status == 400
    assert sorted(d["field"] for d in body["details"]) == ["from", "page", "size", "to"]


@pytest.mark.parametrize("q", ['"', "*", "AND(", 'x" OR "y', "東京 🙂", "a " * 240, "%00"])
def test_any_free_text_is_a_200(client: Any, search_index: SqliteSearchIndex, q: str) -> None:
    search_index.index_events([_event(1)])
    status, body = _get(client, {"q": q})
    assert status == 200
    assert body["total"] == len(body["events"])


def test_empty_parameters_count_as_absent(client: Any, search_index: SqliteSearchIndex) -> None:
    search_index.index_events([_event(1)])
    status, body = _get(client, {"q": "", "type": "", "size": ""})
    assert (status, body["total"]) == (200, 1)


def test_no_index_behind_the_alias_is_a_503_not_a_500(
    client: Any, search_index: SqliteSearchIndex
) -> None:
    for name in search_index.aliased_indices():
        search_index.delete_index(name)
    status, body = _get(client)
    assert status == 503
    assert body["error"] == "search_unavailable"
