"""Reading the S3 event archive Firehose writes.

Objects live under ``events/buckets=N/bucket=BB/year=YYYY/month=MM/day=DD/``
(a hash bucket of the subject, see chalicelib.adapters.archive_split), or under
``events/year=YYYY/month=MM/day=DD/`` when written before buckets; each holds
newline-delimited CloudEvent JSON (gzip when Firehose compresses). Objects
can repeat events: delivery is at least once, so readers must deduplicate
(the replay engine does, by subject and version).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from typing import Any

import msgspec

__all__ = ["ARCHIVE_PREFIX", "ArchiveObject", "ArchiveReader", "delivery_order"]

ARCHIVE_PREFIX = "events/"
_GZIP_MAGIC = b"\x1f\x8b"
_DAY = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})/")


class ArchiveObject(msgspec.Struct, frozen=True):
    key: str
    size: int


def delivery_order(obj: ArchiveObject) -> tuple[str, str]:
    """Sort key: the object's day, then its key (so an aggregate's older events come first,
    whichever layout or bucket holds them, and the engine rarely has to wait for a gap)."""
    found = _DAY.search(obj.key)
    return ("".join(found.groups()) if found else "", obj.key)


class ArchiveReader:
    """Lists and reads archive objects; ``s3`` is a boto3 S3 client."""

    def __init__(self, s3: Any, bucket: str, prefix: str = ARCHIVE_PREFIX) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix

    def objects(self) -> list[ArchiveObject]:
        """Every archive object, in day order, then key (bucket, then delivery) order."""
        found: list[ArchiveObject] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            found.extend(ArchiveObject(o["Key"], int(o["Size"])) for o in page.get("Contents", []))
        return sorted(found, key=delivery_order)

    def read(self, key: str) -> bytes:
        """One object's NDJSON bytes (gunzipped if needed)."""
        body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return gzip.decompress(body) if body[:2] == _GZIP_MAGIC else body

    def chunks(self) -> Iterator[bytes]:
        """Each object's bytes, in key order: the replay engine's input."""
        for obj in self.objects():
            yield self.read(obj.key)

    def lines(self) -> Iterator[bytes]:
        """Every non-blank line of every object (one CloudEvent JSON each)."""
        for chunk in self.chunks():
            yield from (line for line in chunk.splitlines() if line.strip())
