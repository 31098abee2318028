"""Redriving the stream failure queue.

A stream consumer (fan-out, projector, search erasure, or the ledger relay)
that keeps failing on a batch gives up after its retries; Lambda then sends
an on-failure record to the stream failure queue: which function, which
shard, and the first and last sequence number of the batch (metadata only,
not the records). The source of that queue is the stream, so redrive means:
read those records back from the stream by sequence number and invoke the
function that failed on them, once more, with the same Lambda event it was
given. The failure message is deleted only after that invocation succeeded.

Only the function that failed sees the records again (re-putting them on
the stream would hand them to every consumer and archive them twice), and
every consumer skips versions it already applied, so the event ends applied
exactly once, even if a redrive is interrupted and repeated.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["FailedBatch", "fetch_records", "parse_failure", "redrive_stream_failures"]

Invoke = Callable[[str, dict[str, Any]], None]
_MAX_EMPTY_READS = 5


@dataclass(frozen=True)
class FailedBatch:
    """What an on-failure record says about the batch a function gave up on."""

    function: str  # the function name (last part of its ARN)
    source: str  # "kinesis" or "dynamodb"
    stream_arn: str
    shard_id: str
    start: str
    end: str


def parse_failure(body: str) -> FailedBatch:
    """The failed batch described by an on-failure record (Lambda's JSON shape)."""
    record = json.loads(body)
    kinesis = record.get("KinesisBatchInfo")
    info = kinesis or record["DDBStreamBatchInfo"]
    return FailedBatch(
        function=str(record["requestContext"]["functionArn"]).split(":")[6],
        source="kinesis" if kinesis else "dynamodb",
        stream_arn=str(info["streamArn"]),
        shard_id=str(info["shardId"]),
        start=str(info["startSequenceNumber"]),
        end=str(info["endSequenceNumber"]),
    )


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _kinesis_record(batch: FailedBatch, region: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": str(raw["SequenceNumber"]),
            "data": base64.b64encode(raw["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": _epoch(raw["ApproximateArrivalTimestamp"]),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{batch.shard_id}:{raw['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "awsRegion": region,
        "eventSourceARN": batch.stream_arn,
    }


def _dynamodb_record(batch: FailedBatch, region: str, raw: dict[str, Any]) -> dict[str, Any]:
    ddb = dict(raw["dynamodb"])
    if "ApproximateCreationDateTime" in ddb:
        ddb["ApproximateCreationDateTime"] = _epoch(ddb["ApproximateCreationDateTime"])
    return {
        "eventID": raw.get("eventID"),
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": ddb,
        "eventSourceARN": batch.stream_arn,
    }


def fetch_records(
    batch: FailedBatch, kinesis: Any, dynamodb_streams: Any, region: str
) -> list[dict[str, Any]]:
    """The batch's records, read back from its stream, as the Lambda event had them."""
    if batch.source == "kinesis":
        client, sequence_of, shape = kinesis, _kinesis_sequence, _kinesis_record
        iterator = client.get_shard_iterator(
            StreamName=batch.stream_arn.split("/", 1)[1],
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch.start,
        )["ShardIterator"]
    else:
        client, sequence_of, shape = dynamodb_streams, _dynamodb_sequence, _dynamodb_record
        iterator = client.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        )["ShardIterator"]
    end = int(batch.end)
    records: list[dict[str, Any]] = []
    empty_reads = 0
    while iterator and empty_reads < _MAX_EMPTY_READS:
        response = client.get_records(ShardIterator=iterator, Limit=1000)
        page = response.get("Records", [])
        empty_reads = 0 if page else empty_reads + 1
        for raw in page:
            if int(sequence_of(raw)) > end:
                return records
            records.append(shape(batch, region, raw))
        if page and int(sequence_of(page[-1])) >= end:
            return records
        iterator = response.get("NextShardIterator")
    if not records:
        raise LookupError(
            f"records {batch.start}..{batch.end} of {batch.shard_id} are no longer in the "
            "stream (past its retention): rebuild from the archive with scripts/replay.py"
        )
    return records


def _kinesis_sequence(raw: dict[str, Any]) -> str:
    return str(raw["SequenceNumber"])


def _dynamodb_sequence(raw: dict[str, Any]) -> str:
    return str(raw["dynamodb"]["SequenceNumber"])


def redrive_stream_failures(
    sqs: Any,
    queue_url: str,
    invoke: Invoke,
    read: Callable[[FailedBatch], list[dict[str, Any]]],
) -> dict[str, int]:
    """Re-invoke each failed function on its batch; delete each failure record it then passes.

    Returns ``{"moved": batches redriven, "records": records re-delivered,
    "failed": batches that failed again (left in the queue)}``.
    """
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    budget = int(attributes["ApproximateNumberOfMessages"])
    moved = records = failed = 0
    while moved + failed < budget:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, budget - moved - failed),
            VisibilityTimeout=120,
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            batch = parse_failure(message["Body"])
            event_records = read(batch)
            try:
                invoke(batch.function, {"Records": event_records})
            except Exception:
                failed += 1
                # Visible again at once, for the next redrive once the cause is fixed.
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            records += len(event_records)
    return {"moved": moved, "records": records, "failed": failed}
