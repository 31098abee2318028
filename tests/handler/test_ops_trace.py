"""ops.py trace against in-process moto: ledger, stream and consumer positions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import boto3

from chalicelib import resources
from chalicelib.adapters import aws
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from local_aws.firehose import FirehoseEmulator
from operations import trace
from tests.handler.helpers import post_json, table_items, user_body
from tests.handler.test_event_pipeline import _ledger_stream_event, _stream_data


def _trace(env: dict[str, str], event_id: str, subject: str | None = None) -> dict[str, Any]:
    return trace.trace(
        event_id,
        subject=subject,
        ledger=aws.table("ledger"),
        kinesis=boto3.client("kinesis"),
        s3=boto3.client("s3"),
        stream=env["EVENT_STREAM"],
        bucket=env["ARCHIVE_BUCKET"],
    )


def test_trace_follows_a_registration_from_ledger_to_consumers(
    client: Any, aws_env: dict[str, str], sqlite_search_index: SqliteSearchIndex
) -> None:
    # GIVEN a registration relayed to the stream and applied by the GDPR consumer only
    user = post_json(client, "/users", user_body(loyalty=False)).json_body
    (item,) = table_items(aws_env["LEDGER_TABLE"])
    client.lambda_.invoke("ledger_relay", _ledger_stream_event(aws_env))
    (record,) = _stream_data(aws_env)
    client.lambda_.invoke(
        "gdpr_consent_record",
        client.events.generate_sqs_event(
            message_bodies=[record.decode()], queue_name=aws_env["GDPR_QUEUE"]
        ),
    )
    # WHEN tracing its event (by scan, and by the subject's query)
    found = _trace(aws_env, item["event_id"])
    # THEN the ledger entry and the stream record are found, the archive and the
    # index do not have it yet, and only the GDPR consumer applied it
    assert found == _trace(aws_env, item["event_id"], subject=user["id"])
    assert found["ledger"] == {"aggregate_id": user["id"], "version": 1}
    assert found["stream"]["shard"].startswith("shardId-")
    assert json.loads(record)["id"] == item["event_id"]
    assert (found["archive"], found["index"]) == (None, False)
    applied = {name: p["applied"] for name, p in found["consumers"].items()}
    others = {s.key: False for s in resources.SUBSCRIBERS if s.key != "gdpr"}
    assert applied == {**others, "gdpr": True, "projector": False}
    assert {"loyalty", "crm"} <= set(others)


def test_trace_of_an_unknown_event_says_it_is_not_in_the_ledger(
    aws_env: dict[str, str],
) -> None:
    assert _trace(aws_env, "no-such-event") == {"event_id": "no-such-event", "ledger": None}


def test_trace_tells_consumers_the_filter_keeps_away_from_pending_ones(
    client: Any, aws_env: dict[str, str], sqlite_search_index: SqliteSearchIndex
) -> None:
    # GIVEN a registration without loyalty but with marketing consent, on the stream,
    # that no consumer has applied yet
    post_json(client, "/users", user_body(loyalty=False, consents={"marketing": True}))
    (item,) = table_items(aws_env["LEDGER_TABLE"])
    client.lambda_.invoke("ledger_relay", _ledger_stream_event(aws_env))
    # WHEN tracing it
    found = _trace(aws_env, item["event_id"])
    # THEN loyalty's filter policy excludes it, and so does identity deletion's
    # (erasures only); every other consumer should get it
    subscribed = {name: p["subscribed"] for name, p in found["consumers"].items()}
    assert subscribed == {
        **{s.key: True for s in resources.SUBSCRIBERS},
        "loyalty": False,
        "identity": False,
        "projector": True,
    }
    # AND the stream record's arrival is an ISO 8601 time
    arrived = datetime.fromisoformat(found["stream"]["arrived"])
    assert arrived.tzinfo is not None


def test_trace_finds_the_event_in_its_subjects_bucket_and_in_the_unbucketed_layout(
    client: Any, aws_env: dict[str, str], sqlite_search_index: SqliteSearchIndex
) -> None:
    # GIVEN a registration relayed to the stream, and the local Firehose delivering it
    post_json(client, "/users", user_body(loyalty=False))
    (item,) = table_items(aws_env["LEDGER_TABLE"])
    client.lambda_.invoke("ledger_relay", _ledger_stream_event(aws_env))
    bucket = aws_env["ARCHIVE_BUCKET"]
    with FirehoseEmulator(aws_env["EVENT_STREAM"], bucket, "evp-archive", boto3.Session()) as hose:
        key = hose.flush_now()
    # WHEN tracing its event
    found = _trace(aws_env, item["event_id"])
    # THEN it is found in the object of its subject's bucket
    assert key is not None and key.startswith("events/buckets=64/bucket=")
    assert found["archive"] == key
    # AND once only an unbucketed copy of the day remains, it is found there
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    day = datetime.fromisoformat(json.loads(body)["time"].replace("Z", "+00:00"))
    legacy = f"events/year={day:%Y}/month={day:%m}/day={day:%d}/old"
    s3.put_object(Bucket=bucket, Key=legacy, Body=body)
    s3.delete_object(Bucket=bucket, Key=key)
    assert _trace(aws_env, item["event_id"])["archive"] == legacy


def test_trace_reads_past_poison_on_the_stream_and_in_the_archive(
    client: Any, aws_env: dict[str, str], sqlite_search_index: SqliteSearchIndex
) -> None:
    # GIVEN poison on the stream, in the shard of a registration and ahead of its record
    # (the stream functions send such records to the stream-failures queue and move on)
    user = post_json(client, "/users", user_body(loyalty=False)).json_body
    kinesis, stream = boto3.client("kinesis"), aws_env["EVENT_STREAM"]
    for poison in (b"{poison\n", b"[1, 2]", b"\xff\xfe"):
        kinesis.put_record(StreamName=stream, Data=poison, PartitionKey=user["id"])
    (item,) = table_items(aws_env["LEDGER_TABLE"])
    client.lambda_.invoke("ledger_relay", _ledger_stream_event(aws_env))
    # AND the archive of its day holding, before its own object, a broken line naming it
    bucket = aws_env["ARCHIVE_BUCKET"]
    with FirehoseEmulator(stream, bucket, "evp-archive", boto3.Session()) as hose:
        key = hose.flush_now()
    assert key is not None
    broken = f'{{"id": "{item["event_id"]}", "data": \n'.encode()
    first = key.rsplit("/", 1)[0] + "/0-broken"
    boto3.client("s3").put_object(Bucket=bucket, Key=first, Body=broken)
    # WHEN tracing its event
    found = _trace(aws_env, item["event_id"])
    # THEN the poison is passed over: the event is found on the stream and in its object
    assert found["stream"] is not None and found["stream"]["shard"].startswith("shardId-")
    assert found["archive"] == key
