"""What Lambda does with a batch of stream records: retries, bisection, the on-failure queue."""

from __future__ import annotations

import json
import logging
import time
import uuid
from abc import abstractmethod
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.resources import KinesisRetrySpec
from local_aws.event_sources.records import iso_millis
from local_aws.event_sources.source import Source

__all__ = ["Stopped", "StreamDelivery"]

logger = logging.getLogger(__name__)


class Stopped(Exception):
    """The runner is stopping: abandon the current batch without checkpointing."""


class StreamDelivery(Source):
    """Delivery of a shard's batches to the handler, for Kinesis and DynamoDB streams."""

    batch_info_key = ""
    stream_arn: str

    @abstractmethod
    def to_event_record(self, shard_id: str, raw: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def sequence_of(self, raw: dict[str, Any]) -> str: ...

    @abstractmethod
    def arrival_of(self, raw: dict[str, Any]) -> Any: ...

    def _process(self, shard_id: str, raws: list[dict[str, Any]]) -> None:
        """Deliver ``raws`` (retry, bisect, on-failure destination); raise Stopped on stop."""
        retry: KinesisRetrySpec = self.runner.retry
        stop = self.runner.stop_event
        event = {"Records": [self.to_event_record(shard_id, r) for r in raws]}
        attempts = 0
        error: BaseException | None = None
        while True:
            ok, _, error = self.invoke(event, len(raws))
            attempts += 1
            if ok:
                with self.lock:
                    self.stats.records_processed += len(raws)
                return
            if stop.is_set():
                raise Stopped
            if attempts > retry.maximum_retry_attempts:
                break
            if stop.wait(min(self.runner.retry_backoff_seconds * attempts, 2.0)):
                raise Stopped
        if retry.bisect_batch_on_function_error and len(raws) > 1:
            middle = len(raws) // 2
            self._process(shard_id, raws[:middle])
            self._process(shard_id, raws[middle:])
            return
        self._send_to_failure_destination(shard_id, raws, event["Records"], attempts, error)

    def _send_to_failure_destination(
        self,
        shard_id: str,
        raws: list[dict[str, Any]],
        event_records: list[dict[str, Any]],
        attempts: int,
        error: BaseException | None,
    ) -> None:
        url = self.runner.failure_queue_url
        if not url:
            logger.error(
                "%s: dropping %d record(s) of %s after %d attempts (no on-failure queue)",
                self.name,
                len(raws),
                shard_id,
                attempts,
            )
            with self.lock:
                self.stats.records_discarded += len(raws)
            return
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": (
                    f"arn:aws:lambda:{self.runner.region}:{self.runner.account}"
                    f":function:{self.function_name}"
                ),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": iso_millis(time.time()),
            self.batch_info_key: {
                "shardId": shard_id,
                "startSequenceNumber": self.sequence_of(raws[0]),
                "endSequenceNumber": self.sequence_of(raws[-1]),
                "approximateArrivalOfFirstRecord": iso_millis(self.arrival_of(raws[0])),
                "approximateArrivalOfLastRecord": iso_millis(self.arrival_of(raws[-1])),
                "batchSize": len(raws),
                "streamArn": self.stream_arn,
            },
            # Local convenience (Lambda sends metadata only): the records themselves
            # and the handler's error.
            "records": event_records,
            "errorMessage": repr(error) if error is not None else None,
        }
        body = json.dumps(message, default=str)
        sqs = self.runner.client("sqs")
        for attempt in range(3):
            try:
                sqs.send_message(QueueUrl=url, MessageBody=body)
                break
            except ClientError as exc:
                logger.warning("%s: on-failure send failed (try %d): %r", self.name, attempt, exc)
                time.sleep(0.2 * (attempt + 1))
        else:
            with self.lock:
                self.stats.records_discarded += len(raws)
            return
        logger.warning(
            "%s: sent %d record(s) of %s (%s..%s) to the on-failure queue",
            self.name,
            len(raws),
            shard_id,
            self.sequence_of(raws[0]),
            self.sequence_of(raws[-1]),
        )
        with self.lock:
            self.stats.records_to_failure_destination += len(raws)
