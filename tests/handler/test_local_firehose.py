"""The local Firehose emulator archives the Kinesis stream to S3 like Firehose would."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final

import boto3
import pytest

from chalicelib.resources import ARCHIVE_DELIVERY
from local_aws.event_sources import make_client_factory
from local_aws.firehose import FirehoseEmulator, render_prefix
from projections.archive_buckets import bucket_label, bucket_of

REGION: Final = "eu-west-1"
KEY_RE = re.compile(
    r"^events/buckets=64/bucket=00/year=(\d{4})/month=(\d{2})/day=(\d{2})/"
    r"evp-archive-1-(\d{4})-(\d{2})-(\d{2})-\d{2}-\d{2}-\d{2}-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


@pytest.fixture
def session(session: boto3.session.Session) -> boto3.session.Session:
    """GIVEN a moto account with a 1-shard stream 'events' and a bucket 'archive'."""
    session.client("kinesis").create_stream(StreamName="events", ShardCount=1)
    session.client("s3").create_bucket(
        Bucket="archive", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return session


def _put(session: boto3.session.Session, *lines: str, stream: str = "events") -> None:
    kinesis = session.client("kinesis")
    for i, line in enumerate(lines):
        kinesis.put_record(StreamName=stream, Data=line.encode(), PartitionKey=f"p{i}")


def _objects(session: boto3.session.Session) -> dict[str, bytes]:
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket="archive").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket="archive", Key=o["Key"])["Body"].read() for o in listed}


def _emulator(session: boto3.session.Session, **kwargs: Any) -> FirehoseEmulator:
    kwargs.setdefault("poll_interval_seconds", 0.05)
    return FirehoseEmulator("events", "archive", "evp-archive", session, **kwargs)


def _wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_buffer_is_written_after_the_interval_with_firehose_key_layout(
    session: boto3.session.Session,
) -> None:
    # GIVEN three NDJSON records on the stream and a 1.5 s buffer
    lines = ['{"n":1}\n', '{"n":2}\n', '{"n":3}\n']
    _put(session, *lines)
    emulator = _emulator(session, buffering_interval_seconds=1.5)

    # WHEN the emulator runs
    with emulator:
        time.sleep(0.2)
        early = _objects(session)
        assert _wait_for(lambda: _objects(session))

    # THEN nothing was written before the interval, then one NDJSON object
    assert early == {}
    ((key, body),) = _objects(session).items()
    assert body == "".join(lines).encode()
    match = KEY_RE.match(key)
    assert match, key
    today = datetime.now(UTC)
    assert match.groups()[:3] == (f"{today:%Y}", f"{today:%m}", f"{today:%d}")
    assert match.groups()[3:] == match.groups()[:3]
    assert emulator.stats()["objects_written"] == 1


def test_a_wake_makes_an_idle_delivery_read_the_stream_at_once(
    session: boto3.session.Session,
) -> None:
    # GIVEN a delivery that polls the stream once an hour and has just found it empty,
    # with no buffering interval
    polled_empty = threading.Event()
    factory = make_client_factory(session)
    factory("kinesis").meta.events.register(
        "after-call.kinesis.GetRecords",
        lambda parsed, **_: None if parsed.get("Records") else polled_empty.set(),
    )
    emulator = _emulator(
        session, client_factory=factory, poll_interval_seconds=3600, buffering_interval_seconds=0
    )
    with emulator:
        assert polled_empty.wait(10)
        # WHEN a record is put on the stream and the delivery is woken (a handler ran)
        _put(session, '{"n":1}\n')
        emulator.wake()
        # THEN it is archived at once, not an hour later
        assert _wait_for(lambda: _objects(session), timeout=10)
    assert list(_objects(session).values()) == [b'{"n":1}\n']


def test_stop_flushes_what_is_buffered(session: boto3.session.Session) -> None:
    # GIVEN an emulator with the production 60 s buffer that has read two records
    emulator = _emulator(session, buffering_interval_seconds=60)
    emulator.start()
    _put(session, "a\n", "b\n")
    assert _wait_for(lambda: emulator.buffered_records == 2)
    assert _objects(session) == {}

    # WHEN it is stopped
    emulator.stop()

    # THEN the buffer was delivered
    assert list(_objects(session).values()) == [b"a\nb\n"]
    assert emulator.buffered_records == 0


def test_size_limit_splits_objects(session: boto3.session.Session) -> None:
    # GIVEN a buffer of 10 bytes and six 4-byte records
    _put(session, *(f"r{i}x\n" for i in range(6)))
    emulator = _emulator(session, buffering_interval_seconds=60, buffering_size_mb=10 / 2**20)

    # WHEN everything is read
    with emulator:
        emulator.flush_now()

    # THEN objects hold at most 3 records and together hold all of them, in order
    bodies = [body for _, body in sorted(_objects(session).items())]
    assert len(bodies) == 2
    assert sorted(bodies) == [b"r0x\nr1x\nr2x\n", b"r3x\nr4x\nr5x\n"]


def test_sinks_get_each_flushed_buffer_and_a_failing_sink_is_isolated(
    session: boto3.session.Session,
) -> None:
    # GIVEN a failing sink and a recording sink
    received: list[list[bytes]] = []

    def broken(records: list[bytes]) -> None:
        raise RuntimeError("index down")

    emulator = _emulator(session, sinks=[broken])
    emulator.add_sink(received.append)
    _put(session, "x\n", "y\n")

    # WHEN the buffer is flushed
    with emulator:
        key = emulator.flush_now()

    # THEN S3 and the working sink both got the records
    assert key is not None and _objects(session)[key] == b"x\ny\n"
    assert received == [[b"x\n", b"y\n"]]
    assert emulator.stats()["sink_errors"] == 1


def test_checkpoints_make_a_restart_resume_after_what_was_archived(
    session: boto3.session.Session, tmp_path: Any
) -> None:
    # GIVEN an emulator that archived two records with a checkpoint file
    checkpoint = tmp_path / "firehose.json"
    _put(session, "1\n", "2\n")
    with _emulator(session, checkpoint_path=checkpoint) as first:
        first.flush_now()

    # WHEN another record arrives and a new emulator starts from the file
    _put(session, "3\n")
    with _emulator(session, checkpoint_path=checkpoint) as second:
        key = second.flush_now()

    # THEN the new object holds only the new record
    assert key is not None
    assert _objects(session)[key] == b"3\n"
    assert sorted(_objects(session).values()) == [b"1\n2\n", b"3\n"]


def test_every_shard_is_archived(session: boto3.session.Session) -> None:
    # GIVEN a 3-shard stream with records on several partition keys
    session.client("kinesis").create_stream(StreamName="multi", ShardCount=3)
    lines = [f"{i}\n" for i in range(30)]
    _put(session, *lines, stream="multi")
    emulator = FirehoseEmulator(
        "multi", "archive", "evp-archive", session, poll_interval_seconds=0.05
    )

    # WHEN it is flushed
    with emulator:
        emulator.flush_now()

    # THEN all records are archived exactly once
    archived = b"".join(_objects(session).values()).decode().splitlines(keepends=True)
    assert sorted(archived) == sorted(lines)


def test_render_prefix_evaluates_timestamp_namespaces_in_utc() -> None:
    # GIVEN the archive prefix and a time
    when = datetime(2024, 3, 9, 23, 5, 7, tzinfo=UTC)

    # WHEN / THEN it is rendered as Firehose would, the bucket filled in
    assert (
        render_prefix(ARCHIVE_DELIVERY.prefix_for(64), when, "07")
        == "events/buckets=64/bucket=07/year=2024/month=03/day=09/"
    )
    assert render_prefix("raw/", when) == "raw/2024/03/09/23/"
    with pytest.raises(ValueError):
        render_prefix(ARCHIVE_DELIVERY.prefix_for(64), when)


def test_each_bucket_gets_its_own_object_and_non_json_goes_to_errors(
    session: boto3.session.Session,
) -> None:
    # GIVEN events of subjects in different buckets of 4, and a record that is not JSON
    subjects = [f"acc-{n}" for n in range(12)]
    lines = [f'{{"subject":"{s}","n":{i}}}\n' for i, s in enumerate(subjects)]
    _put(session, *lines, "not json\n")
    emulator = _emulator(session, bucket_count=4)

    # WHEN the buffer is flushed
    with emulator:
        emulator.flush_now()

    # THEN each bucket's object holds exactly the records whose subject hashes there
    objects = _objects(session)
    expected: dict[str, list[str]] = {}
    for subject, line in zip(subjects, lines, strict=True):
        expected.setdefault(bucket_label(bucket_of(subject, 4), 4), []).append(line)
    assert len(expected) > 1
    bucketed = {
        match.group(1): body.decode()
        for key, body in objects.items()
        if (match := re.match(r"events/buckets=4/bucket=(\d)/year=\d{4}/", key))
    }
    assert bucketed == {label: "".join(found) for label, found in expected.items()}
    # AND the record the metadata extraction cannot parse is under the error prefix
    (failed,) = [k for k in objects if k.startswith("errors/processing-failed/")]
    assert objects[failed] == b"not json\n"
