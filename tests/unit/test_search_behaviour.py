"""Behaviour of a SearchIndex, one suite for every backend.

Runs against the SQLite backend always. Set ``SEARCH_TEST_OPENSEARCH_URL``
(e.g. ``http://127.0.0.1:9200``, a security-disabled OpenSearch >= 2.7) to
run the same suite against a real engine through the OpenSearch adapter; no
engine runs on this machine, so that leg is skipped here. (The adapter's
request and response shapes are pinned by test_search_opensearch_contract.py.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.search import IndexNotFound, SearchIndex, ensure_alias
from chalicelib.entrypoints.search_params import parse_search_query


@dataclass
class Backend:
    index: SearchIndex
    refresh: Any  # makes writes visible (OpenSearch is near-real-time)

    def add(self, *events: dict[str, Any], index: str | None = None) -> None:
        self.index.index_events(list(events), index=index)
        self.refresh()

    def search(self, **params: str) -> tuple[int, list[str]]:
        result = self.index.search(parse_search_query(params))
        return result.total, [e["id"] for e in result.events]


def _sqlite(tmp_path: Path) -> Generator[Backend, None, None]:
    from chalicelib.adapters.search.sqlite import SqliteSearchIndex

    yield Backend(SqliteSearchIndex(tmp_path / "search.sqlite3", "events"), lambda: None)


def _opensearch(url: str) -> Generator[Backend, None, None]:
    from chalicelib.adapters.search.opensearch import OpenSearchIndex
    from chalicelib.adapters.search.transport import OpenSearchHttp

    client = OpenSearchHttp(url)  # a security-disabled engine: unsigned
    alias = f"test-{uuid.uuid4().hex[:8]}"
    index = OpenSearchIndex(client, alias)
    index.apply_template()
    try:
        yield Backend(index, lambda: client.request("POST", f"/{alias}-*/_refresh"))
    finally:
        client.request("DELETE", f"/{alias}-*")


@pytest.fixture(params=["sqlite", "opensearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """GIVEN an empty events index behind its alias, on each backend."""
    if request.param == "sqlite":
        factory = _sqlite(tmp_path)
    else:
        url = os.environ.get("SEARCH_TEST_OPENSEARCH_URL")
        if not url:
            pytest.skip("no OpenSearch engine (set SEARCH_TEST_OPENSEARCH_URL)")
        factory = _opensearch(url)
    backend = next(factory)
    ensure_alias(backend.index)
    yield backend
    factory.close()


def _event(
    event_id: str,
    time: str,
    *,
    type_: str = "com.example.user.created",
    subject: str = "user-1",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/users",
        "type": type_,
        "time": time,
        "subject": subject,
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": data if data is not None else {"name": "Ana", "lastname": "Silva"},
    }


DEPOSIT = "com.example.account.deposited"


def test_type_and_subject_filter_exactly(backend: Backend) -> None:
    # GIVEN users and a deposit on two subjects
    backend.add(
        _event("a", "2026-03-01T10:00:00.000000Z", subject="user-1"),
        _event("b", "2026-03-01T10:00:01.000000Z", subject="user-2"),
        _event(
            "c",
            "2026-03-01T10:00:02.000000Z",
            type_=DEPOSIT,
            subject="user-1",
            data={"account_id": "user-1", "amount": "5.00"},
        ),
    )
    # THEN type and subject are exact filters, combinable
    assert backend.search(type="com.example.user.created") == (2, ["b", "a"])
    assert backend.search(subject="user-1") == (2, ["c", "a"])
    assert backend.search(type=DEPOSIT, subject="user-1") == (1, ["c"])
    assert backend.search(subject="user") == (0, [])


def test_q_requires_every_word_case_and_accent_insensitively(backend: Backend) -> None:
    # GIVEN users with names and a nested address
    backend.add(
        _event(
            "a",
            "2026-03-01T10:00:00.000000Z",
            data={
                "name": "José",
                "lastname": "Pérez",
                "address": {"city": "Lisboa", "street": "Rua Augusta"},
            },
        ),
        _event(
            "b",
            "2026-03-01T10:00:01.000000Z",
            data={"name": "Ana", "lastname": "Pérez", "address": "Porto"},
        ),
    )
    # THEN q matches words of any string value, nested too, all words required
    assert backend.search(q="perez") == (2, ["b", "a"])
    assert backend.search(q="JOSE lisboa") == (1, ["a"])
    assert backend.search(q="augusta") == (1, ["a"])
    assert backend.search(q="ana lisboa") == (0, [])
    assert backend.search(q="porto", type="com.example.user.created") == (1, ["b"])


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "*",
        "AND(",
        'ana" OR "x',
        "NEAR(a b)",
        "name:ana",
        "-ana",
        "ana*",
        "^ana",
        "' OR 1=1 --",
        "Zoë 東京 🙂",
        "a" * 500,
        "\\",
        "{}[]",
        "ana AND",
    ],
)
def test_q_with_query_syntax_characters_never_fails(backend: Backend, q: str) -> None:
    # GIVEN one event
    backend.add(_event("a", "2026-03-01T10:00:00.000000Z"))
    # WHEN q carries FTS/Lucene syntax, unicode or maximum length
    total, ids = backend.search(q=q)
    # THEN it is plain words: a result, never an error
    assert total == len(ids) and total in (0, 1)


def test_q_syntax_is_taken_as_words(backend: Backend) -> None:
    backend.add(_event("a", "2026-03-01T10:00:00.000000Z"))
    assert backend.search(q='"ana" AND(') == (0, [])  # "and" is a word ana lacks
    assert backend.search(q='ana*"') == (1, ["a"])
    assert backend.search(q='*"') == (0, [])  # no word at all matches nothing


def test_time_range_is_inclusive_on_both_ends(backend: Backend) -> None:
    backend.add(
        _event("a", "2026-03-01T10:00:00.000000Z"),
        _event("b", "2026-03-01T11:00:00.000000Z"),
        _event("c", "2026-03-01T12:00:00.000000Z"),
    )
    assert backend.search(**{"from": "2026-03-01T11:00:00Z"}) == (2, ["c", "b"])
    assert backend.search(to="2026-03-01T11:00:00Z") == (2, ["b", "a"])
    # 12:00+01:00 is 11:00Z: a range of one instant
    same = {"from": "2026-03-01T12:00:00+01:00", "to": "2026-03-01T11:00:00Z"}
    assert backend.search(**same) == (1, ["b"])
    assert backend.search(
        **{"from": "2026-03-01T10:00:00.000001Z", "to": "2026-03-01T11:59:59Z"}
    ) == (
        1,
        ["b"],
    )


def test_newest_first_by_time_then_id_at_microsecond_precision(backend: Backend) -> None:
    backend.add(
        _event("b", "2026-03-01T10:00:00.000002Z"),
        _event("z", "2026-03-01T10:00:00.000001Z"),
        _event("a", "2026-03-01T10:00:00.000002Z"),
        _event("y", "2026-03-01T09:00:00+00:00"),
    )
    assert backend.search() == (4, ["b", "a", "z", "y"])


def test_size_bounds_the_page_but_not_the_total(backend: Backend) -> None:
    backend.add(*[_event(f"e{i:02d}", f"2026-03-01T10:00:{i:02d}.000000Z") for i in range(25)])
    total, ids = backend.search()
    assert (total, len(ids), ids[0]) == (25, 20, "e24")  # default size 20
    assert backend.search(size="3") == (25, ["e24", "e23", "e22"])


def test_reindexing_an_event_id_keeps_one_document_with_the_latest_content(
    backend: Backend,
) -> None:
    # GIVEN an event indexed, then delivered again (at least once) with new content
    backend.add(_event("a", "2026-03-01T10:00:00.000000Z", data={"name": "Ana"}))
    backend.add(_event("a", "2026-03-01T10:00:00.000000Z", data={"name": "Ana"}))
    backend.add(_event("a", "2026-03-01T10:00:00.000000Z", data={"name": "Beatriz"}))
    # THEN one document, searchable by the new text only
    assert backend.search() == (1, ["a"])
    assert backend.search(q="beatriz") == (1, ["a"])
    assert backend.search(q="ana") == (0, [])


def test_search_returns_the_cloudevents_as_indexed(backend: Backend) -> None:
    event = _event("a", "2026-03-01T10:00:00.000000Z", data={"name": "Ana", "n": [1, {"x": "y"}]})
    backend.add(event)
    assert backend.index.search(parse_search_query({})).events == [event]


def test_a_rebuilt_index_is_swapped_in_behind_the_alias(backend: Backend) -> None:
    # GIVEN the live index with one event
    backend.add(_event("old", "2026-03-01T10:00:00.000000Z"))
    live = backend.index.aliased_indices()
    # WHEN a rebuild fills a new index and swaps the alias
    backend.index.create_index(f"{backend.index.alias}-rebuild")
    backend.add(
        _event("new", "2026-03-01T11:00:00.000000Z"), index=f"{backend.index.alias}-rebuild"
    )
    assert backend.search() == (1, ["old"])  # not visible before the swap
    previous = backend.index.swap_alias(f"{backend.index.alias}-rebuild")
    # THEN searches and writes through the alias use the new index; the old one can go
    assert previous == live
    assert backend.search() == (1, ["new"])
    backend.add(_event("later", "2026-03-01T12:00:00.000000Z"))
    assert backend.search() == (2, ["later", "new"])
    for name in previous:
        backend.index.delete_index(name)
    assert backend.search() == (2, ["later", "new"])


def test_a_deleted_index_behind_the_alias_is_index_not_found(backend: Backend) -> None:
    for name in backend.index.aliased_indices():
        backend.index.delete_index(name)
    with pytest.raises(IndexNotFound):
        backend.index.search(parse_search_query({}))
    with pytest.raises(IndexNotFound):
        backend.index.delete_index(f"{backend.index.alias}-missing")
