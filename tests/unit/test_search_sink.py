"""The local Firehose -> search index sink."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from chalicelib.adapters.search import ensure_alias
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from chalicelib.entrypoints.search_params import parse_search_query
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


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_documents_are_transformed_at_once_and_delivered_after_the_buffer(
    tmp_path: Path,
) -> None:
    # GIVEN a sink with a 2 s destination buffer, as Firehose has after its transform
    index = _index(tmp_path)
    clock = _Clock()
    opened_at: list[float] = []

    def transform(event: dict[str, Any]) -> dict[str, Any]:
        opened_at.append(clock.now)
        return event

    sink = SearchIndexSink(index, transform=transform, buffering_interval_seconds=2, clock=clock)
    # WHEN a flushed stream buffer reaches it, and then time passes
    sink([_line(_event(1))])
    clock.now += 1
    sink([_line(_event(2))])
    early = (sink.deliver_due(), index.search(parse_search_query({})).total)
    clock.now += 1
    due = sink.deliver_due()
    # THEN each event was transformed on arrival, but nothing was indexed before the
    # oldest document had waited the interval, and then the whole buffer was
    assert opened_at == [100.0, 101.0]
    assert early == (0, 0)
    assert (due, index.search(parse_search_query({})).total, sink.buffered_documents) == (2, 2, 0)


def test_a_started_sink_delivers_a_due_buffer_by_itself(tmp_path: Path) -> None:
    # GIVEN a started sink with a 50 ms destination buffer, idle until now
    index = _index(tmp_path)
    sink = SearchIndexSink(index, buffering_interval_seconds=0.05)
    sink.start()
    try:
        # WHEN a flushed stream buffer reaches it
        sink([_line(_event(1))])
        # THEN its thread wakes and indexes the document once due, without a flush
        deadline = time.monotonic() + 10
        while index.search(parse_search_query({})).total == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (index.search(parse_search_query({})).total, sink.buffered_documents) == (1, 0)
    finally:
        sink.stop()


def test_stopping_delivers_what_is_buffered(tmp_path: Path) -> None:
    # GIVEN a started sink holding a transformed document in its buffer
    index = _index(tmp_path)
    sink = SearchIndexSink(index, buffering_interval_seconds=60)
    sink.start()
    sink([_line(_event(1))])
    assert index.search(parse_search_query({})).total == 0
    # WHEN it stops
    sink.stop()
    # THEN the document is indexed, not lost
    assert index.search(parse_search_query({})).total == 1


def test_a_failed_delivery_keeps_the_documents_for_the_next_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a buffered document and an index that fails once
    index = _index(tmp_path)
    sink = SearchIndexSink(index, buffering_interval_seconds=1, clock=_Clock())
    sink([_line(_event(1))])
    real = index.index_events
    calls: list[int] = []

    def failing_once(documents: list[dict[str, Any]], *args: Any) -> int:
        calls.append(len(documents))
        if len(calls) == 1:
            raise OSError("index unavailable")
        return real(documents, *args)

    monkeypatch.setattr(index, "index_events", failing_once)
    # WHEN delivery fails, then is attempted again
    with pytest.raises(OSError):
        sink.flush()
    delivered = sink.flush()
    # THEN the document was delivered by the retry
    assert (calls, delivered, index.search(parse_search_query({})).total) == ([1, 1], 1, 1)
