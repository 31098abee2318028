"""The transactional outbox relay: ledger stream -> Kinesis.

Each ledger INSERT carries the event JSON; it is put on the event stream with
the aggregate id as partition key (so one aggregate's events share a shard).
Each record ends with a newline so that Firehose's concatenated S3 objects
are newline-delimited JSON.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LedgerRelay", "StreamRecord", "ledger_inserts"]

StreamRecord = tuple[str, bytes]  # (partition key, data)


def ledger_inserts(records: Iterable[Mapping[str, Any]]) -> list[StreamRecord]:
    """The (partition key, data) of each ledger INSERT of a DynamoDB stream batch.

    ``records`` are the Lambda event's records (DynamoDB JSON images).
    """
    out: list[StreamRecord] = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage", {})
        if "event" not in image:
            continue
        aggregate_id = image["aggregate_id"]["S"]
        out.append((aggregate_id, image["event"]["S"].encode() + b"\n"))
    return out


class LedgerRelay:
    """Puts ledger events on the Kinesis stream; takes a kinesis client."""

    MAX_ATTEMPTS = 5

    def __init__(self, kinesis: Any, stream_name: str) -> None:
        self._kinesis = kinesis
        self._stream = stream_name

    def forward(self, records: list[StreamRecord]) -> int:
        """Put every record; retries throttled ones, raises if some never make it."""
        pending = records
        for attempt in range(self.MAX_ATTEMPTS):
            if not pending:
                break
            # PutRecords takes at most 500 records per call.
            failed: list[StreamRecord] = []
            for start in range(0, len(pending), 500):
                chunk = pending[start : start + 500]
                response = self._kinesis.put_records(
                    StreamName=self._stream,
                    Records=[{"PartitionKey": key, "Data": data} for key, data in chunk],
                )
                if response.get("FailedRecordCount", 0):
                    failed += [
                        rec
                        for rec, res in zip(chunk, response["Records"], strict=True)
                        if "ErrorCode" in res
                    ]
            pending = failed
            if pending:
                time.sleep(min(0.1 * 2**attempt, 2.0))
        if pending:
            # Failing the batch makes the stream mapping retry it: duplicates
            # downstream are skipped by version, nothing is lost.
            raise RuntimeError(f"{len(pending)} record(s) could not be put on {self._stream}")
        return len(records)
