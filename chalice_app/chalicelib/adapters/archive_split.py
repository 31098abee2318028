"""Splitting an archive replay by aggregate: which objects each part folds.

The archive delivery writes every event under a hash bucket of its subject
(``events/buckets=<count>/bucket=<nn>/year=...``, projections.archive_buckets),
so one bucket holds whole aggregates. A replay in parts gives each part a
disjoint set of buckets: it reads those buckets' objects whole. Objects
without a bucket of that count (the earlier ``events/year=...`` layout, or
buckets of another count after the count changed) are *shared*: every part
reads them and folds only the events whose subject hashes into its buckets,
so each aggregate still reaches exactly one part.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import msgspec

from chalicelib.adapters.archive import ArchiveObject, delivery_order
from projections.archive_buckets import bucket_of
from projections.replay import Chunk, Filtered

__all__ = ["ArchivePart", "ObjectSource", "bucket_of_key", "part_chunks", "split_archive"]

_BUCKETED = re.compile(r"buckets=(\d+)/bucket=(\d+)/")


def bucket_of_key(key: str) -> tuple[int, int] | None:
    """``(count, bucket)`` of a bucketed object's key; None for the earlier layout."""
    match = _BUCKETED.search(key)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


class ArchivePart(msgspec.Struct, frozen=True):
    """One part of a split replay: its buckets of ``count``, the objects it reads."""

    index: int
    count: int
    buckets: frozenset[int]
    owned: tuple[ArchiveObject, ...]
    # Read by every part, filtered by subject; the first part counts their invalid lines.
    shared: tuple[ArchiveObject, ...] = ()

    @property
    def size(self) -> int:
        """Bytes this part reads."""
        return sum(o.size for o in self.owned) + sum(o.size for o in self.shared)

    def owns(self, subject: str) -> bool:
        """Whether the aggregate ``subject`` is folded by this part."""
        return bucket_of(subject, self.count) in self.buckets


class ObjectSource(Protocol):
    """Reads one archive object's bytes (chalicelib.adapters.archive.ArchiveReader, or a folder)."""

    def read(self, key: str, /) -> bytes: ...


def split_archive(objects: Sequence[ArchiveObject], parts: int) -> list[ArchivePart]:
    """``objects`` split into at most ``parts`` parts of disjoint buckets, balanced by bytes.

    The bucket count is the one most bytes were written under (with no
    bucketed object, ``parts``); every bucket of it belongs to exactly one part.
    """
    if parts < 1:
        raise ValueError("parts must be at least 1")
    placed = {o.key: bucket_of_key(o.key) for o in objects}
    weight: Counter[int] = Counter()
    for obj in objects:
        if (where := placed[obj.key]) is not None:
            weight[where[0]] += obj.size
    count = weight.most_common(1)[0][0] if weight else parts
    sizes: Counter[int] = Counter({bucket: 0 for bucket in range(count)})
    for obj in objects:
        where = placed[obj.key]
        if where is not None and where[0] == count:
            sizes[where[1]] += obj.size
    parts = min(parts, count)
    loads = [0] * parts
    members: list[set[int]] = [set() for _ in range(parts)]
    # Largest bucket first onto the lightest part; empty buckets spread evenly.
    for bucket, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        lightest = min(range(parts), key=lambda i: (loads[i], len(members[i]), i))
        loads[lightest] += size
        members[lightest].add(bucket)
    shared = tuple(o for o in objects if (placed[o.key] or (0,))[0] != count)
    return [
        ArchivePart(
            index=i,
            count=count,
            buckets=frozenset(members[i]),
            owned=tuple(
                o
                for o in objects
                if (where := placed[o.key]) is not None
                and where[0] == count
                and where[1] in members[i]
            ),
            shared=shared,
        )
        for i in range(parts)
    ]


def part_chunks(
    part: ArchivePart, source: ObjectSource, progress: Callable[[int], None] | None = None
) -> Iterator[Chunk]:
    """The replay engine's input for ``part``: its buckets whole, the shared objects filtered.

    In day order across both, so an aggregate's older (often unbucketed) events come first.
    """
    shared = set(part.shared)
    for obj in sorted((*part.owned, *part.shared), key=delivery_order):
        body = source.read(obj.key)
        if obj in shared:
            yield Filtered(body, part.owns, count_invalid=part.index == 0)
        else:
            yield body
        if progress is not None:
            progress(obj.size)
