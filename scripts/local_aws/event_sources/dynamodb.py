"""DynamoDB table stream sources."""

from __future__ import annotations

import time
import uuid
from typing import Any

from chalice.app import DynamoDBEventConfig

from local_aws.event_sources.clients import arn_part
from local_aws.event_sources.records import epoch, image_to_lambda
from local_aws.event_sources.source import Runner
from local_aws.event_sources.streams import StreamSource

__all__ = ["DynamoDBSource"]


class DynamoDBSource(StreamSource):
    kind = "dynamodb"
    batch_info_key = "DDBStreamBatchInfo"
    renews_idle_iterators = True

    def __init__(self, runner: Runner, config: DynamoDBEventConfig) -> None:
        super().__init__(runner, config)
        self.configured_arn = config.stream_arn

    @property
    def idle_poll_seconds(self) -> float:
        return self.runner.dynamodb_idle_poll_seconds

    def prepare(self) -> None:
        arn = self.configured_arn
        if not arn.startswith("arn:"):
            # A table name: use its current stream.
            table = self.runner.client("dynamodb").describe_table(TableName=arn)["Table"]
            arn = table["LatestStreamArn"]
        self.stream_arn = arn
        self.runner.account = arn_part(arn, 4, self.runner.account)
        # The stream label (creation time) is part of the ARN.
        self.checkpoint_namespace = arn
        super().prepare()

    def list_shards(self) -> list[tuple[str, str | None]]:
        streams = self.runner.client("dynamodbstreams")
        shards: list[tuple[str, str | None]] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            desc = streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend((s["ShardId"], s.get("ParentShardId")) for s in desc.get("Shards", []))
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def shard_iterator(self, shard_id: str, kind: str, sequence_number: str | None = None) -> str:
        kwargs: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if sequence_number is not None:
            kwargs["SequenceNumber"] = sequence_number
        response = self.runner.client("dynamodbstreams").get_shard_iterator(**kwargs)
        return str(response["ShardIterator"])

    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        response = self.runner.client("dynamodbstreams").get_records(
            ShardIterator=iterator, Limit=min(limit, 1000)
        )
        return list(response.get("Records", [])), response.get("NextShardIterator")

    def sequence_of(self, raw: dict[str, Any]) -> str:
        return str(raw["dynamodb"]["SequenceNumber"])

    def arrival_of(self, raw: dict[str, Any]) -> Any:
        return raw["dynamodb"].get("ApproximateCreationDateTime", time.time())

    def to_event_record(self, shard_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        ddb = raw["dynamodb"]
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": epoch(self.arrival_of(raw)),
            "Keys": image_to_lambda(ddb.get("Keys")) or {},
            "SequenceNumber": str(ddb["SequenceNumber"]),
            "SizeBytes": int(ddb.get("SizeBytes", 0)),
            "StreamViewType": ddb.get("StreamViewType", ""),
        }
        for image in ("NewImage", "OldImage"):
            if image in ddb:
                body[image] = image_to_lambda(ddb[image])
        record: dict[str, Any] = {
            "eventID": raw.get("eventID") or uuid.uuid4().hex,
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            # Emulators report their own region (moto us-east-1, DynamoDB Local
            # "ddblocal"); use the real one.
            "awsRegion": self.runner.region,
            "dynamodb": body,
            "eventSourceARN": self.stream_arn,
        }
        if "userIdentity" in raw:
            record["userIdentity"] = raw["userIdentity"]
        return record
