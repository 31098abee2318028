"""Rebuild the search index from the event history into a new index, then swap the alias."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from chalicelib.adapters.search.documents import InvalidDocument, parse_ndjson, to_document
from chalicelib.adapters.search.port import SearchIndex, versioned_index_name

__all__ = ["BATCH_SIZE", "IndexingStats", "RebuildResult", "index_chunks", "rebuild_index"]

BATCH_SIZE = 2000
Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class IndexingStats(msgspec.Struct):
    """Events indexed, lines that were not indexable, events a transform dropped."""

    indexed: int = 0
    invalid: int = 0
    dropped: int = 0


class RebuildResult(msgspec.Struct):
    index: str
    alias: str
    previous: list[str] = msgspec.field(default_factory=list)
    stats: IndexingStats = msgspec.field(default_factory=IndexingStats)


def index_chunks(
    index: SearchIndex,
    chunks: Iterable[bytes | str],
    target: str | None = None,
    *,
    transform: Transform | None = None,
    batch_size: int = BATCH_SIZE,
    stats: IndexingStats | None = None,
) -> IndexingStats:
    """Index every event of NDJSON ``chunks`` into ``target`` (default: the alias), in batches."""
    stats = stats or IndexingStats()
    batch: list[dict[str, Any]] = []
    for event in parse_ndjson(chunks):
        if event is not None and transform is not None:
            event = transform(event)
            if event is None:
                stats.dropped += 1
                continue
        if event is None:
            stats.invalid += 1
            continue
        try:
            to_document(event)
        except InvalidDocument:
            stats.invalid += 1
            continue
        batch.append(event)
        if len(batch) >= batch_size:
            stats.indexed += index.index_events(batch, index=target)
            batch = []
    if batch:
        stats.indexed += index.index_events(batch, index=target)
    return stats


def rebuild_index(
    index: SearchIndex,
    chunks: Iterable[bytes | str],
    *,
    name: str | None = None,
    transform: Transform | None = None,
    batch_size: int = BATCH_SIZE,
) -> RebuildResult:
    """Fill a new index ``<alias>-<timestamp>`` from ``chunks`` and point the alias at it.

    The previous indices are kept (roll back by swapping back); delete them when satisfied.
    """
    name = name or versioned_index_name(index.alias)
    index.create_index(name)
    stats = index_chunks(index, chunks, name, transform=transform, batch_size=batch_size)
    previous = index.swap_alias(name)
    return RebuildResult(index=name, alias=index.alias, previous=previous, stats=stats)
