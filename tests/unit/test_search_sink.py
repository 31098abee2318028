"""The local Firehose -> search index sink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from chalicelib.search import ensure_alias, parse_search_query
from chalicelib.search.sqlite import SqliteSearchIndex
from local_aws.search_sink import SearchIndexSink


def _event(n: int, name: str = "Ana") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"id-{n}",
        "source": "/users",
        "type": "com.example.user.created",
        "time": f"2026-03-01T10:00:0{n}.000000Z",
        "subject": f"user-{n}",
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": {"name": name},
    }


def _line(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event) + b"\n"


def _index(tmp_path: Path) -> SqliteSearchIndex:
    index = SqliteSearchIndex(tmp_path / "s.sqlite3")
    ensure_alias(index)
    return index


def test_sink_indexes_every_event_of_a_flushed_buffer_and_skips_bad_lines(
    tmp_path: Path,
) -> None:
    # GIVEN a sink on an empty index
    index = _index(tmp_path)
    sink = SearchIndexSink(index)
    # WHEN Firehose flushes records: events, a duplicate, garbage, an event missing fields
    sink(
        [
            _line(_event(1)),
            _line(_event(2)) + _line(_event(1)),
            b"not json\n",
            b"[1]\n",
            _line({**_event(3), "time": "soon"}),
        ]
    )
    # THEN the valid events are searchable once each; the rest are counted, not fatal
    result = index.search(parse_search_query({}))
    assert (result.total, [e["id"] for e in result.events]) == (2, ["id-2", "id-1"])
    assert (sink.stats.indexed, sink.stats.invalid, sink.stats.dropped) == (3, 3, 0)


def test_transform_rewrites_or_drops_events_on_the_way_in(tmp_path: Path) -> None:
    # GIVEN a transform like a Firehose transformation Lambda (e.g. decrypting fields)
    def transform(event: dict[str, Any]) -> dict[str, Any] | None:
        if event["id"] == "id-2":
            return None
        return {**event, "data": {"name": event["data"]["name"].upper()}}

    index = _index(tmp_path)
    sink = SearchIndexSink(index, transform=transform)
    # WHEN a buffer passes through it
    sink([_line(_event(1, "beatriz")), _line(_event(2))])
    # THEN what is indexed is the transformed event, dropped ones are counted
    result = index.search(parse_search_query({"q": "beatriz"}))
    assert [e["data"] for e in result.events] == [{"name": "BEATRIZ"}]
    assert (sink.stats.indexed, sink.stats.dropped) == (1, 1)
