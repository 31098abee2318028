"""Emulate a Kinesis-sourced Firehose delivery stream writing to S3.

moto does not deliver from Kinesis to S3, so the local stack runs a
:class:`FirehoseEmulator`: it reads every shard of the stream from
TRIM_HORIZON (resuming from its own checkpoints), concatenates the record data
as-is (the platform's records end with ``\\n``, so objects are NDJSON) and
writes an object whenever the buffer reaches its size or age limit, with
Firehose's key layout::

    <prefix, !{timestamp:...} evaluated><delivery name>-1-<yyyy-MM-dd-HH-mm-ss>-<uuid4>

Timestamps are the UTC arrival time of the oldest record in the object. A
prefix with ``!{partitionKeyFromQuery:bucket}`` is dynamically partitioned as
the archive delivery stream is: each flushed buffer becomes one object per
bucket (projections.archive_buckets, the hash Firehose's JQ query computes),
and a record that is not JSON goes under the error prefix
(``processing-failed``), as Firehose's metadata extraction sends it there.
Extra sinks (e.g. a search index) receive the record bytes of every flushed
buffer. Checkpoints only advance once the object is written (at least once).
The stream is polled every ``poll_interval_seconds``, less often once idle (up
to ``max_poll_interval_seconds``, local_aws.event_sources.backoff); ``wake()``
makes it poll at once (the local stack calls it on every handler run).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import orjson
from botocore.exceptions import ClientError

from chalicelib.resources import ARCHIVE_DELIVERY
from local_aws.event_sources import (
    CheckpointStore,
    ClientFactory,
    IdleBackoff,
    make_client_factory,
)
from projections.archive_buckets import bucket_label, bucket_of

__all__ = ["FirehoseEmulator", "FirehoseStats", "Sink", "render_prefix"]

logger = logging.getLogger(__name__)

Sink = Callable[[list[bytes]], None]

_SHARD_REFRESH_SECONDS = 2.0
_MAX_DRAIN_ROUNDS = 1000
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_TIMESTAMP_NS = re.compile(r"!\{timestamp:([^}]*)\}")
_RANDOM_NS = "!{firehose:random-string}"
_BUCKET_NS = "!{partitionKeyFromQuery:bucket}"
_ERROR_TYPE_NS = "!{firehose:error-output-type}"
_PROCESSING_FAILED = "processing-failed"


def _java_format(pattern: str, when: datetime) -> str:
    out = pattern
    for token, directive in _JAVA_TO_STRFTIME.items():
        out = out.replace(token, directive)
    return when.strftime(out)


def render_prefix(prefix: str, when: datetime, bucket: str | None = None) -> str:
    """Evaluate Firehose's ``!{timestamp:...}`` namespaces in ``prefix`` at ``when`` (UTC).

    Like Firehose, a prefix without a timestamp namespace gets ``yyyy/MM/dd/HH/`` appended.
    ``bucket`` fills ``!{partitionKeyFromQuery:bucket}``.
    """
    when = when.astimezone(UTC)
    if bucket is not None:
        prefix = prefix.replace(_BUCKET_NS, bucket)
    elif _BUCKET_NS in prefix:
        raise ValueError(f"{prefix!r} needs a bucket")
    if "!{timestamp:" not in prefix:
        prefix = prefix + "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"
    rendered = _TIMESTAMP_NS.sub(lambda m: _java_format(m.group(1), when), prefix)
    while _RANDOM_NS in rendered:
        alphabet = string.ascii_letters + string.digits
        rendered = rendered.replace(
            _RANDOM_NS, "".join(secrets.choice(alphabet) for _ in range(11)), 1
        )
    return rendered


@dataclass
class FirehoseStats:
    """Counters of the emulator."""

    records_read: int = 0
    objects_written: int = 0
    bytes_written: int = 0
    put_errors: int = 0
    sink_errors: int = 0


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    last_read: str | None = None
    closed: bool = False


class FirehoseEmulator:
    """Delivers a Kinesis stream to S3 (and extra sinks) like a Firehose delivery stream."""

    def __init__(
        self,
        stream_name: str,
        bucket: str,
        delivery_name: str,
        session: boto3.session.Session | None = None,
        *,
        client_factory: ClientFactory | None = None,
        prefix: str | None = None,
        error_prefix: str = ARCHIVE_DELIVERY.error_prefix,
        bucket_count: int = ARCHIVE_DELIVERY.bucket_count,
        buffering_interval_seconds: float = ARCHIVE_DELIVERY.buffering_interval_seconds,
        buffering_size_mb: float = ARCHIVE_DELIVERY.buffering_size_mb,
        sinks: Iterable[Sink] = (),
        checkpoint_path: str | os.PathLike[str] | None = None,
        poll_interval_seconds: float = 0.2,
        max_poll_interval_seconds: float | None = None,
        busy_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream_name = stream_name
        self.bucket = bucket
        self.delivery_name = delivery_name
        self.prefix = ARCHIVE_DELIVERY.prefix_for(bucket_count) if prefix is None else prefix
        self.error_prefix = error_prefix
        self.bucket_count = bucket_count
        self.buffering_interval_seconds = float(buffering_interval_seconds)
        self.buffering_size_bytes = int(buffering_size_mb * 1024 * 1024)
        self.poll_interval_seconds = poll_interval_seconds
        self.max_poll_interval_seconds = max_poll_interval_seconds
        self.busy_seconds = busy_seconds
        self._clock = clock
        self._client = client_factory or make_client_factory(session)
        self._sinks: list[Sink] = list(sinks)
        self._checkpoints = CheckpointStore(checkpoint_path)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._wakes = 0
        self._thread: threading.Thread | None = None
        self._shards: dict[str, _Shard] = {}
        self._namespace = ""
        self._last_refresh = 0.0
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._buffer_started = 0.0
        self._oldest_arrival: datetime | None = None
        self._pending: dict[str, str] = {}
        self._stats = FirehoseStats()
        self.keys_written: list[str] = []

    def add_sink(self, sink: Sink) -> None:
        """Also hand every flushed buffer's records to ``sink``."""
        with self._lock:
            self._sinks.append(sink)

    def start(self) -> None:
        """Resolve the stream (raising if missing) and start delivering in the background."""
        if self._thread is not None:
            raise RuntimeError("FirehoseEmulator already started")
        with self._lock:
            summary = self._client("kinesis").describe_stream_summary(StreamName=self.stream_name)[
                "StreamDescriptionSummary"
            ]
            created = summary.get("StreamCreationTimestamp")
            created_s = created.timestamp() if isinstance(created, datetime) else 0.0
            self._namespace = (
                f"firehose:{self.delivery_name}|{summary['StreamARN']}@{created_s:.3f}"
            )
            self._refresh_shards(force=True)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"firehose-{self.delivery_name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background thread, then deliver what is on the stream and in the buffer."""
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        try:
            self.flush_now()
        except Exception as exc:
            logger.warning("firehose %s: final flush failed: %r", self.delivery_name, exc)

    def wake(self) -> None:
        """Poll the stream at once, and at the base pace for a while: it may have been written."""
        with self._wake:
            self._wakes += 1
            self._wake.notify_all()

    def __enter__(self) -> FirehoseEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush_now(self) -> str | None:
        """Read everything on the stream now and write the buffer; the S3 key or None."""
        with self._lock:
            if self._namespace:
                self._refresh_shards(force=True)
                for _ in range(_MAX_DRAIN_ROUNDS):
                    if not self._poll_once():
                        break
            return self._flush()

    def stats(self) -> dict[str, int]:
        """Counters (records read, objects and bytes written, errors)."""
        with self._lock:
            return asdict(self._stats)

    @property
    def buffered_records(self) -> int:
        """Records read but not yet written."""
        with self._lock:
            return len(self._buffer)

    # -- internals --------------------------------------------------------
    def _run(self) -> None:
        # Idle, the pause doubles up to max_poll_interval_seconds (a wake-up resets it),
        # but a buffer is written when it is due.
        backoff = IdleBackoff(
            self.poll_interval_seconds,
            self.max_poll_interval_seconds,
            busy_seconds=self.busy_seconds,
            clock=self._clock,
        )
        while not self._stop.is_set():
            with self._wake:
                wakes = self._wakes
            got = False
            try:
                with self._lock:
                    self._refresh_shards()
                    got = self._poll_once()
                    if self._buffer and self._due_in() <= 0:
                        self._flush()
            except Exception as exc:
                logger.warning("firehose %s: delivery loop error: %r", self.delivery_name, exc)
                self._stop.wait(1.0)
            if got:
                backoff.active()
                continue
            pause = backoff.next_pause()
            with self._lock:
                if self._buffer:
                    # Not less than the base pace: a write that failed is retried at that pace.
                    pause = min(pause, max(self._due_in(), self.poll_interval_seconds))
            if self._pause(pause, wakes):
                backoff.active()

    def _pause(self, seconds: float, wakes: int) -> bool:
        """Sleep up to ``seconds``, or until woken since ``wakes`` was read (True) or stopped."""
        with self._wake:
            return self._wake.wait_for(
                lambda: self._wakes != wakes or self._stop.is_set(), timeout=seconds
            )

    def _due_in(self) -> float:
        """Seconds until the buffer's age reaches the buffering interval."""
        return self._buffer_started + self.buffering_interval_seconds - self._clock()

    def _refresh_shards(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_refresh < _SHARD_REFRESH_SECONDS:
            return
        self._last_refresh = now
        kinesis = self._client("kinesis")
        response = kinesis.list_shards(StreamName=self.stream_name)
        while True:
            for shard in response["Shards"]:
                self._shards.setdefault(shard["ShardId"], _Shard(shard["ShardId"]))
            token = response.get("NextToken")
            if not token:
                break
            response = kinesis.list_shards(NextToken=token)

    def _iterator(self, shard: _Shard) -> str:
        seq = shard.last_read or self._checkpoints.get(f"{self._namespace}|{shard.shard_id}")
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard.shard_id}
        if seq is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seq)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return str(self._client("kinesis").get_shard_iterator(**kwargs)["ShardIterator"])

    def _poll_once(self) -> bool:
        """One get_records per open shard; True if any record was read."""
        got = False
        kinesis = self._client("kinesis")
        for shard in list(self._shards.values()):
            if shard.closed:
                continue
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
            try:
                response = kinesis.get_records(ShardIterator=shard.iterator, Limit=10000)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ExpiredIteratorException":
                    shard.iterator = None
                    continue
                raise
            records = response.get("Records", [])
            next_iterator = response.get("NextShardIterator")
            if records:
                shard.iterator = next_iterator
                for record in records:
                    self._append(shard, record)
                got = True
            elif next_iterator is None:
                shard.closed = True
        return got

    def _append(self, shard: _Shard, record: dict[str, Any]) -> None:
        data = record["Data"]
        if isinstance(data, str):
            data = data.encode()
        arrival = record.get("ApproximateArrivalTimestamp")
        arrival_dt = arrival.astimezone(UTC) if isinstance(arrival, datetime) else datetime.now(UTC)
        if not self._buffer:
            self._buffer_started = self._clock()
            self._oldest_arrival = arrival_dt
        elif self._oldest_arrival is None or arrival_dt < self._oldest_arrival:
            self._oldest_arrival = arrival_dt
        self._buffer.append(bytes(data))
        self._buffer_bytes += len(data)
        shard.last_read = str(record["SequenceNumber"])
        self._pending[shard.shard_id] = shard.last_read
        self._stats.records_read += 1
        if self._buffer_bytes >= self.buffering_size_bytes:
            self._flush()

    def _flush(self) -> str | None:
        """Write the buffer (one object per bucket when partitioned); the last key or None."""
        if not self._buffer:
            return None
        when = self._oldest_arrival or datetime.now(UTC)
        suffix = f"{self.delivery_name}-1-{when:%Y-%m-%d-%H-%M-%S}-"
        objects: list[tuple[str, list[bytes]]] = []
        if _BUCKET_NS in self.prefix:
            partitions = self._partitioned(self._buffer)
            for bucket, records_of in sorted(partitions.items(), key=lambda i: i[0] or ""):
                if bucket is None:
                    prefix = render_prefix(
                        self.error_prefix.replace(_ERROR_TYPE_NS, _PROCESSING_FAILED), when
                    )
                else:
                    prefix = render_prefix(self.prefix, when, bucket)
                objects.append((f"{prefix}{suffix}{uuid.uuid4()}", records_of))
        else:
            objects.append(
                (f"{render_prefix(self.prefix, when)}{suffix}{uuid.uuid4()}", self._buffer)
            )
        written = 0
        key = ""
        try:
            for key, records_of in objects:
                body = b"".join(records_of)
                self._client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)
                written += len(body)
                self.keys_written.append(key)
        except ClientError as exc:
            # Objects already written are written again with the retry: duplicates, which
            # every reader skips by version (Firehose delivers at least once too).
            self._stats.put_errors += 1
            logger.warning(
                "firehose %s: writing s3://%s/%s failed: %r",
                self.delivery_name,
                self.bucket,
                key,
                exc,
            )
            return None
        records, pending = self._buffer, self._pending
        self._buffer, self._buffer_bytes, self._pending = [], 0, {}
        self._oldest_arrival = None
        for shard_id, seq in pending.items():
            self._checkpoints.set(f"{self._namespace}|{shard_id}", seq)
        self._stats.objects_written += len(objects)
        self._stats.bytes_written += written
        logger.info(
            "firehose %s: wrote %d record(s) to %d object(s) in s3://%s/, last %s",
            self.delivery_name,
            len(records),
            len(objects),
            self.bucket,
            key,
        )
        for sink in list(self._sinks):
            try:
                sink(list(records))
            except Exception as exc:
                self._stats.sink_errors += 1
                logger.warning("firehose %s: sink %r failed: %r", self.delivery_name, sink, exc)
        return key

    def _partitioned(self, records: list[bytes]) -> dict[str | None, list[bytes]]:
        """Records by bucket label, as the metadata extraction query gives it (None: not JSON)."""
        out: dict[str | None, list[bytes]] = {}
        for record in records:
            try:
                document = orjson.loads(record)
            except orjson.JSONDecodeError:
                out.setdefault(None, []).append(record)
                continue
            if not isinstance(document, dict):
                # JQ cannot index a number, string or array with .subject: extraction fails.
                out.setdefault(None, []).append(record)
                continue
            subject = document.get("subject")
            # JQ's `.subject // ""`: a missing, null or false subject hashes as "".
            text = subject if isinstance(subject, str) else ""
            label = bucket_label(bucket_of(text, self.bucket_count), self.bucket_count)
            out.setdefault(label, []).append(record)
        return out
