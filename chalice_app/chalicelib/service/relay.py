"""The transactional outbox relay: ledger stream -> Kinesis.

Each ledger INSERT carries the event JSON; it is put on the event stream with
the aggregate id as partition key (so one aggregate's events share a shard).
Each record ends with a newline so that Firehose's concatenated S3 objects
are newline-delimited JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.adapters.batching import MAX_ATTEMPTS, BatchLimits, send_batches

__all__ = ["PUT_RECORDS_LIMITS", "LedgerRelay", "StreamRecord", "ledger_inserts"]

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


# PutRecords: at most 500 records and 5 MiB (data plus partition keys) per call.
PUT_RECORDS_LIMITS = BatchLimits(max_entries=500, max_bytes=5 * 1024 * 1024)


def _size(record: StreamRecord) -> int:
    return len(record[0].encode()) + len(record[1])


class LedgerRelay:
    """Puts ledger events on the Kinesis stream; takes a kinesis client."""

    MAX_ATTEMPTS = MAX_ATTEMPTS

    def __init__(
        self, kinesis: Any, stream_name: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream_name
        self._sleep = sleep

    def forward(self, records: list[StreamRecord]) -> int:
        """Put every record with PutRecords; retries failed ones, raises if some never make it.

        Only the records a call reports as failed are sent again (in their
        order); a retried record lands after later records of its aggregate
        that succeeded, which the consumers' version order absorbs.
        """
        pending = send_batches(
            records,
            self._put,
            PUT_RECORDS_LIMITS,
            size=_size,
            attempts=self.MAX_ATTEMPTS,
            sleep=self._sleep,
        )
        if pending:
            # Failing the batch makes the stream mapping retry it: duplicates
            # downstream are skipped by version, nothing is lost.
            raise RuntimeError(f"{len(pending)} record(s) could not be put on {self._stream}")
        return len(records)

    def _put(self, chunk: list[StreamRecord]) -> list[int]:
        response = self._kinesis.put_records(
            StreamName=self._stream,
            Records=[{"PartitionKey": key, "Data": data} for key, data in chunk],
        )
        if not response.get("FailedRecordCount", 0):
            return []
        return [i for i, result in enumerate(response["Records"]) if "ErrorCode" in result]
