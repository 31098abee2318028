"""Batch API calls that may fail per entry (PutRecords, PublishBatch, DeleteMessageBatch).

A batch call can succeed as a whole while some of its entries fail
(``FailedRecordCount``, ``Failed``). :func:`send_batches` sends entries in
chunks the API accepts, resends only the entries that failed, in their
original order, with a capped exponential backoff, and returns the ones that
never made it: the caller decides whether that fails the invocation (so the
event source retries) or is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import msgspec

__all__ = ["MAX_ATTEMPTS", "BatchLimits", "chunks", "send_batches"]

T = TypeVar("T")

MAX_ATTEMPTS = 5

# Sends one chunk; returns the positions (in the chunk) of the entries that failed.
SendChunk = Callable[[list[T]], Sequence[int]]


class BatchLimits(msgspec.Struct, frozen=True):
    """What one call of a batch API accepts: entries and total payload bytes."""

    max_entries: int
    max_bytes: int | None = None


def chunks(
    entries: Sequence[T], limits: BatchLimits, size: Callable[[T], int]
) -> Iterator[list[T]]:
    """``entries`` in order, split into chunks within ``limits``."""
    chunk: list[T] = []
    chunk_bytes = 0
    for entry in entries:
        entry_bytes = size(entry)
        full = len(chunk) >= limits.max_entries or (
            limits.max_bytes is not None and chunk_bytes + entry_bytes > limits.max_bytes
        )
        if chunk and full:
            yield chunk
            chunk, chunk_bytes = [], 0
        chunk.append(entry)
        chunk_bytes += entry_bytes
    if chunk:
        yield chunk


def send_batches(
    entries: Sequence[T],
    send: SendChunk[T],
    limits: BatchLimits,
    *,
    size: Callable[[T], int] = lambda _: 0,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[T]:
    """Send every entry; retry the failed ones only. Returns those still failing."""
    pending = list(entries)
    for attempt in range(attempts):
        if attempt:
            sleep(min(0.1 * 2 ** (attempt - 1), 2.0))
        failed: list[T] = []
        for chunk in chunks(pending, limits, size):
            failed += [chunk[i] for i in sorted(set(send(chunk)))]
        pending = failed
        if not pending:
            break
    return pending
