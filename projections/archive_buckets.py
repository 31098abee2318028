"""Which archive bucket an aggregate's events go to: a hash of ``subject``.

The archive delivery (Firehose dynamic partitioning, infra/modules/archive)
writes every event under ``bucket=<hash of subject mod count>``, so one
bucket holds whole aggregates and a replay can fold buckets apart. Firehose
computes the bucket with a JQ query (JQ has no hash function), so the hash
is one JQ can spell: a polynomial over the subject's code points, reduced
mod ``count`` at every step (exact in JQ's doubles). The query is declared in
infra/modules/archive; a test runs it with jq against ``bucket_of``.
"""

from __future__ import annotations

__all__ = ["bucket_label", "bucket_of", "label_width"]

_BASE = 31


def bucket_of(subject: str, count: int) -> int:
    """The bucket (0 .. count-1) of the aggregate ``subject``."""
    value = 0
    for char in subject:
        value = (value * _BASE + ord(char)) % count
    return value


def label_width(count: int) -> int:
    """Digits of the largest bucket number: buckets are zero-padded to it."""
    return len(str(count - 1))


def bucket_label(bucket: int, count: int) -> str:
    """The bucket as it appears in object keys (``07`` of 64)."""
    return str(bucket).zfill(label_width(count))
