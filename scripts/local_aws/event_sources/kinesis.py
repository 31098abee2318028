"""Kinesis stream sources."""

from __future__ import annotations

import base64
import time
from typing import Any

from chalice.app import KinesisEventConfig

from local_aws.event_sources.clients import arn_part
from local_aws.event_sources.records import epoch
from local_aws.event_sources.source import Runner
from local_aws.event_sources.streams import StreamSource

__all__ = ["KinesisSource"]


class KinesisSource(StreamSource):
    kind = "kinesis"
    batch_info_key = "KinesisBatchInfo"

    def __init__(self, runner: Runner, config: KinesisEventConfig) -> None:
        super().__init__(runner, config)
        self.stream_name = config.stream
        self.invoke_identity_arn = ""

    def prepare(self) -> None:
        summary = self.runner.client("kinesis").describe_stream_summary(
            StreamName=self.stream_name
        )["StreamDescriptionSummary"]
        self.stream_arn = summary["StreamARN"]
        self.runner.account = arn_part(self.stream_arn, 4, self.runner.account)
        created = epoch(summary.get("StreamCreationTimestamp", 0))
        # The creation time tells a re-created stream (same ARN) from the old one.
        self.checkpoint_namespace = f"{self.stream_arn}@{created:.3f}"
        account = arn_part(self.stream_arn, 4, self.runner.account)
        self.invoke_identity_arn = f"arn:aws:iam::{account}:role/{self.function_name}-role"
        super().prepare()

    def list_shards(self) -> list[tuple[str, str | None]]:
        kinesis = self.runner.client("kinesis")
        shards: list[tuple[str, str | None]] = []
        response = kinesis.list_shards(StreamName=self.stream_name)
        while True:
            shards.extend((s["ShardId"], s.get("ParentShardId")) for s in response["Shards"])
            token = response.get("NextToken")
            if not token:
                return shards
            response = kinesis.list_shards(NextToken=token)

    def shard_iterator(self, shard_id: str, kind: str, sequence_number: str | None = None) -> str:
        kwargs: dict[str, Any] = {
            "StreamName": self.stream_name,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if sequence_number is not None:
            kwargs["StartingSequenceNumber"] = sequence_number
        return str(self.runner.client("kinesis").get_shard_iterator(**kwargs)["ShardIterator"])

    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        response = self.runner.client("kinesis").get_records(
            ShardIterator=iterator, Limit=min(limit, 10000)
        )
        return list(response.get("Records", [])), response.get("NextShardIterator")

    def sequence_of(self, raw: dict[str, Any]) -> str:
        return str(raw["SequenceNumber"])

    def arrival_of(self, raw: dict[str, Any]) -> Any:
        return raw.get("ApproximateArrivalTimestamp", time.time())

    def to_event_record(self, shard_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        data = raw["Data"]
        if isinstance(data, str):
            data = data.encode()
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": raw["PartitionKey"],
                "sequenceNumber": str(raw["SequenceNumber"]),
                "data": base64.b64encode(data).decode("ascii"),
                "approximateArrivalTimestamp": epoch(self.arrival_of(raw)),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{raw['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self.invoke_identity_arn,
            "awsRegion": self.runner.region,
            "eventSourceARN": self.stream_arn,
        }
