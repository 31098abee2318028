"""Splitting the archive by bucket: every aggregate reaches exactly one part."""

from __future__ import annotations

from itertools import combinations

import pytest

from chalicelib.adapters.archive import ArchiveObject
from chalicelib.adapters.archive_split import bucket_of_key, part_chunks, split_archive
from projections.archive_buckets import bucket_label, bucket_of
from projections.replay import Filtered


def bucketed(count: int, bucket: int, size: int, day: str = "01") -> ArchiveObject:
    label = bucket_label(bucket, count)
    return ArchiveObject(
        f"events/buckets={count}/bucket={label}/year=2026/month=12/day={day}/o", size
    )


LEGACY = ArchiveObject("events/year=2026/month=11/day=30/old", 50)


def test_keys_name_their_bucket_or_none() -> None:
    assert bucket_of_key("events/buckets=64/bucket=07/year=2026/month=12/day=01/x") == (64, 7)
    assert bucket_of_key(LEGACY.key) is None


def test_parts_own_disjoint_buckets_that_cover_the_count_and_balance_bytes() -> None:
    # GIVEN 8 buckets of uneven sizes, two objects each, and an unbucketed object
    objects = [bucketed(8, b, 100 * (b + 1), day) for b in range(8) for day in ("01", "02")]
    objects.append(LEGACY)
    # WHEN split in 3 parts
    parts = split_archive(objects, 3)
    # THEN the buckets are disjoint and cover 0..7, each object of a bucket goes with it
    assert len(parts) == 3
    for one, other in combinations(parts, 2):
        assert not one.buckets & other.buckets
    assert set().union(*(p.buckets for p in parts)) == set(range(8))
    for part in parts:
        assert {bucket_of_key(o.key)[1] for o in part.owned} == part.buckets  # type: ignore[index]
        # AND the unbucketed object is shared by all
        assert part.shared == (LEGACY,)
    # AND the bytes are balanced within one bucket's size
    owned = [sum(o.size for o in p.owned) for p in parts]
    assert max(owned) - min(owned) <= 2 * 800


def test_objects_of_another_count_are_shared_and_more_parts_than_buckets_collapse() -> None:
    # GIVEN most bytes under 2 buckets and an object under an earlier count of 4
    objects = [bucketed(2, 0, 500), bucketed(2, 1, 500), bucketed(4, 3, 10)]
    # WHEN split in 5 parts
    parts = split_archive(objects, 5)
    # THEN there are 2 parts (one per bucket), both reading the count-4 object filtered
    assert [p.count for p in parts] == [2, 2]
    assert all(p.shared == (objects[2],) for p in parts)


def test_an_archive_without_buckets_is_split_by_subject() -> None:
    # GIVEN only unbucketed objects
    parts = split_archive([LEGACY], 2)
    # THEN each part reads them all and owns the subjects hashing into its buckets
    subjects = [f"acc-{n}" for n in range(40)]
    owners = [[p.index for p in parts if p.owns(s)] for s in subjects]
    assert all(len(found) == 1 for found in owners)
    assert {found[0] for found in owners} == {0, 1}
    assert all(
        bucket_of(s, 2) in parts[i[0]].buckets for s, i in zip(subjects, owners, strict=True)
    )


def test_part_chunks_read_owned_whole_and_shared_filtered_counting_invalid_once() -> None:
    # GIVEN a part of a split with one owned and one shared object
    objects = [bucketed(2, 0, 3), bucketed(2, 1, 3), LEGACY]
    parts = split_archive(objects, 2)
    bodies = {o.key: o.key.encode() for o in objects}

    class Source:
        def read(self, key: str) -> bytes:
            return bodies[key]

    progress: list[int] = []
    # WHEN the chunks of each part are listed
    chunks = [list(part_chunks(part, Source(), progress.append)) for part in parts]
    # THEN in day order: the older shared object filtered, then the owned body as it is;
    # only part 0 counts the shared object's invalid lines
    for part, listed in zip(parts, chunks, strict=True):
        shared, owned = listed
        assert isinstance(shared, Filtered) and shared.chunk == LEGACY.key.encode()
        assert shared.count_invalid is (part.index == 0)
        assert owned == part.owned[0].key.encode()
    assert sum(progress) == 2 * (3 + 50)


def test_zero_parts_is_refused() -> None:
    with pytest.raises(ValueError):
        split_archive([LEGACY], 0)
