"""``ops.py trace EVENT_ID``: where one event is, from the ledger to every consumer.

The ledger is scanned for the id (an operator's look-up, not a hot path: the
ledger's key is the aggregate, not the event id). The stream record is found
on the shard its partition key hashes to, read from the event's time on;
the archive object under the event's day (and the next, for deliveries
around midnight), in its subject's bucket of every bucket count the archive
holds and in the earlier unbucketed layout; the index document by subject; and each consumer's and
the projector's applied version for the aggregate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from chalicelib import resources
from chalicelib.adapters.archive import ARCHIVE_PREFIX, ArchiveReader
from chalicelib.adapters.archive_split import bucket_of_key
from chalicelib.entrypoints.roots import search
from chalicelib.entrypoints.roots.positions import applied_positions
from chalicelib.entrypoints.search_params import parse_search_query
from operations.subscriptions import receives
from projections.archive_buckets import bucket_label, bucket_of

__all__ = ["find_ledger_entry", "trace"]

# How far past the event's time the stream is read looking for its record.
_STREAM_WINDOW = timedelta(minutes=15)
_MAX_STREAM_PAGES = 200


def find_ledger_entry(
    ledger: Any, event_id: str, subject: str | None = None
) -> dict[str, Any] | None:
    """The ledger item holding ``event_id`` (a query of ``subject`` if given, else a scan)."""
    kwargs: dict[str, Any] = {"FilterExpression": Attr("event_id").eq(event_id)}
    if subject:
        kwargs["KeyConditionExpression"] = Key("aggregate_id").eq(subject)
    read = ledger.query if subject else ledger.scan
    while True:
        page = read(**kwargs)
        for item in page.get("Items", []):
            return dict(item)
        if "LastEvaluatedKey" not in page:
            return None
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _event_id(raw: bytes) -> Any:
    """The ``id`` of the JSON object ``raw``; None for anything else.

    A stream or an archive may hold poison (a record the relay sent to the
    stream-failures queue, a broken line): a trace reads past it.
    """
    try:
        decoded = json.loads(raw)
    except ValueError:  # invalid JSON or UTF-8
        return None
    return decoded.get("id") if isinstance(decoded, dict) else None


def _shard_for(kinesis: Any, stream: str, partition_key: str) -> str:
    hashed = int(hashlib.md5(partition_key.encode()).hexdigest(), 16)  # Kinesis's own hash
    last = ""
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        key_range = shard["HashKeyRange"]
        if int(key_range["StartingHashKey"]) <= hashed <= int(key_range["EndingHashKey"]):
            if "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {}):
                return str(shard["ShardId"])
            last = str(shard["ShardId"])
    return last


def _stream_location(kinesis: Any, stream: str, event: Mapping[str, Any]) -> dict[str, Any] | None:
    shard = _shard_for(kinesis, stream, str(event["subject"]))
    since = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")) - timedelta(minutes=1)
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=since
    )["ShardIterator"]
    for _ in range(_MAX_STREAM_PAGES):
        response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        for record in response.get("Records", []):
            if _event_id(record["Data"]) == event["id"]:
                return {
                    "shard": shard,
                    "sequence_number": record["SequenceNumber"],
                    "arrived": _iso(record["ApproximateArrivalTimestamp"]),
                }
            arrived = record["ApproximateArrivalTimestamp"]
            if arrived > since + _STREAM_WINDOW:
                return None
        if not response.get("Records") and not response.get("MillisBehindLatest"):
            return None
        iterator = response["NextShardIterator"]
    return None


def _iso(arrived: Any) -> str:
    # boto3 parses the timestamp into an aware datetime; the trace says it in ISO 8601.
    return arrived.isoformat() if isinstance(arrived, datetime) else str(arrived)


def _bucket_counts(s3: Any, bucket: str) -> list[int]:
    """The bucket counts the archive was written under (``events/buckets=N/``)."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=ARCHIVE_PREFIX, Delimiter="/")
    counts = []
    for common in listed.get("CommonPrefixes", []):
        if (found := bucket_of_key(f"{common['Prefix']}bucket=0/")) is not None:
            counts.append(found[0])
    return sorted(counts)


def _days(event: Mapping[str, Any], counts: list[int]) -> Iterator[str]:
    day = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    subject = str(event.get("subject") or "")
    for when in (day, day + timedelta(days=1)):
        dated = f"year={when:%Y}/month={when:%m}/day={when:%d}/"
        for count in counts:
            label = bucket_label(bucket_of(subject, count), count)
            yield f"{ARCHIVE_PREFIX}buckets={count}/bucket={label}/{dated}"
        yield f"{ARCHIVE_PREFIX}{dated}"


def _archive_location(s3: Any, bucket: str, event: Mapping[str, Any]) -> str | None:
    needle = str(event["id"]).encode()
    for prefix in _days(event, _bucket_counts(s3, bucket)):
        reader = ArchiveReader(s3, bucket, prefix)
        for obj in reader.objects():
            for line in reader.read(obj.key).splitlines():
                if needle in line and _event_id(line) == event["id"]:
                    return obj.key
    return None


def _indexed(event: Mapping[str, Any]) -> bool:
    # The operator reads the index directly (as the API's admins do through GET /search).
    query = parse_search_query({"subject": str(event["subject"]), "size": "100"})
    return any(e.get("id") == event["id"] for e in search.search_index().search(query).events)


def trace(
    event_id: str,
    *,
    subject: str | None = None,
    ledger: Any,
    kinesis: Any,
    s3: Any,
    stream: str,
    bucket: str,
) -> dict[str, Any]:
    """Where ``event_id`` is: ledger, stream, archive, index and consumers."""
    item = find_ledger_entry(ledger, event_id, subject)
    if item is None:
        return {"event_id": event_id, "ledger": None}
    event = json.loads(item["event"])
    version = int(item["version"])
    result: dict[str, Any] = {
        "event_id": event_id,
        "type": event["type"],
        "subject": event["subject"],
        "aggregateversion": version,
        "time": event["time"],
        "ledger": {"aggregate_id": item["aggregate_id"], "version": version},
        "stream": _stream_location(kinesis, stream, event),
        "archive": _archive_location(s3, bucket, event),
    }
    try:
        result["index"] = _indexed(event)
    except Exception as exc:  # the index is optional to a trace: say why it is unknown
        result["index"] = None
        result["index_error"] = type(exc).__name__
    # A subscriber whose filter policy keeps the event away never gets it (by design);
    # the projector folds every event.
    subscribed = {s.key: receives(s, event) for s in resources.SUBSCRIBERS}
    result["consumers"] = {
        name: {
            **(position or {"version": 0}),
            "applied": bool(position and position["version"] >= version),
            "subscribed": subscribed.get(name, True),
        }
        for name, position in applied_positions(event).items()
    }
    return result
