"""A Firehose sink that indexes each flushed buffer into a ``SearchIndex``.

The local stand-in for Firehose's OpenSearch destination: every record is one
CloudEvent JSON line. ``transform`` plays the part of a Firehose
transformation Lambda: it may rewrite an event (e.g. decrypt personal
fields) or drop it by returning None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.search import InvalidDocument, SearchIndex, to_document
from chalicelib.search.documents import parse_ndjson

__all__ = ["SearchIndexSink", "SinkStats", "Transform"]

logger = logging.getLogger(__name__)

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]


@dataclass
class SinkStats:
    """Counters of a sink (events indexed, dropped by the transform, invalid)."""

    indexed: int = 0
    dropped: int = 0
    invalid: int = 0


class SearchIndexSink:
    """Callable Firehose sink: ``sink(records)`` indexes the records' events (upsert by id)."""

    def __init__(self, index: SearchIndex, transform: Transform | None = None) -> None:
        self.index = index
        self.transform = transform
        self.stats = SinkStats()

    def __call__(self, records: list[bytes]) -> None:
        documents = []
        invalid = 0
        for event in parse_ndjson(records):
            if event is None:
                invalid += 1
                continue
            transformed = self.transform(event) if self.transform else event
            if transformed is None:
                self.stats.dropped += 1
                continue
            try:
                to_document(transformed)
            except InvalidDocument as exc:
                # Firehose would send these to its error prefix; they must not block the rest.
                invalid += 1
                logger.warning("search sink: skipping event %r: %s", event.get("id"), exc)
                continue
            documents.append(transformed)
        self.stats.invalid += invalid
        self.stats.indexed += self.index.index_events(documents)
