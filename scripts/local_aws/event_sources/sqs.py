"""SQS sources: batches, batching windows, concurrency and ReportBatchItemFailures."""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from chalice.app import SQSEventConfig

from local_aws.event_sources.clients import arn_part
from local_aws.event_sources.source import Runner, Source

__all__ = ["SqsSource"]

logger = logging.getLogger(__name__)

_SQS_RECEIVE_MAX = 10
# Only a mapping with this response type reads the handler's batchItemFailures;
# without it, as in AWS, a normal return deletes the whole batch.
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


class SqsSource(Source):
    kind = "sqs"

    def __init__(self, runner: Runner, config: SQSEventConfig) -> None:
        super().__init__(runner, config.name)
        self.config = config
        self.batch_size = max(1, int(config.batch_size))
        self.window = float(config.maximum_batching_window_in_seconds or 0)
        self.concurrency = int(config.maximum_concurrency or runner.default_sqs_concurrency)
        self.slots = threading.BoundedSemaphore(self.concurrency)
        self.queue_url = ""
        self.queue_arn = config.queue_arn or ""
        self.busy = 0
        self.active = 0
        self.last_empty_poll = -math.inf
        self.window_started = -math.inf
        self.backoff = runner.idle_backoff(runner.idle_poll_seconds)

    def prepare(self) -> None:
        sqs = self.runner.client("sqs")
        queue_name = self.config.queue or (self.config.queue_arn or "").rsplit(":", 1)[-1]
        self.queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        if not self.queue_arn:
            attrs = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self.queue_arn = attrs["Attributes"]["QueueArn"]
        self.runner.account = arn_part(self.queue_arn, 4, self.runner.account)

    @property
    def source_arn(self) -> str:
        return self.queue_arn

    def launch(self) -> None:
        self.window_started = self.runner.clock()
        self.spawn(self._poll_loop, name=f"sqs-poller-{self.name}")

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        response = self.runner.client("sqs").receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(_SQS_RECEIVE_MAX, count)),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _poll_loop(self) -> None:
        stop = self.runner.stop_event
        while not stop.is_set():
            if not self.slots.acquire(timeout=self.runner.idle_poll_seconds):
                continue
            handed_off = False
            try:
                batch = self._gather()
                if batch:
                    # The poller is free once it hands the batch over, as a Lambda
                    # poller is once its invocation completes: its next window begins.
                    self.window_started = self.runner.clock()
                    self.spawn(self._run_batch, batch, name=f"sqs-invoke-{self.name}")
                    handed_off = True
            except Exception as exc:
                logger.warning("%s: polling %s failed: %r", self.name, self.queue_url, exc)
                stop.wait(1.0)
            finally:
                if not handed_off:
                    self.slots.release()

    def _gather(self) -> list[dict[str, Any]]:
        runner = self.runner
        started = time.monotonic()
        # Short polls: moto server serves one request at a time, so a long poll would
        # hold every other call (local_aws.moto_server). Between polls the poller
        # sleeps until a handler of the runner ran (it may have sent to this queue)
        # or its idle pause passed (someone else may have sent, a delay or a
        # visibility timeout may have ended).
        wakes = runner.wake_count(self.queue_arn)
        batch = self._receive(self.batch_size, wait_s=0)
        if not batch:
            with self.lock:
                if self.busy == 0:
                    self.last_empty_poll = started
            if runner.pause(self.backoff.next_pause(), self.queue_arn, wakes):
                self.backoff.active()
            return []
        self.backoff.active()
        with self.lock:
            self.busy += 1
        try:
            deadline = self.window_started + self.window
            while len(batch) < self.batch_size and not runner.stop_event.is_set():
                remaining = deadline - runner.clock()
                if remaining <= 0:
                    break
                wakes = runner.wake_count(self.queue_arn)
                more = self._receive(self.batch_size - len(batch), wait_s=0)
                if more:
                    batch.extend(more)
                else:
                    runner.pause(min(0.1, remaining), self.queue_arn, wakes)
        except Exception:
            with self.lock:
                self.busy -= 1
            raise
        return batch

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        for key, value in (message.get("MessageAttributes") or {}).items():
            attr: dict[str, Any] = {
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            if "StringValue" in value:
                attr["stringValue"] = value["StringValue"]
            if "BinaryValue" in value:
                attr["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
            attributes[key] = attr
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.runner.region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def _run_batch(self, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            self.active += 1
            self.stats.max_concurrency_seen = max(self.stats.max_concurrency_seen, self.active)
        try:
            event = {"Records": [self._record(m) for m in batch]}
            ok, result, _ = self.invoke(event, len(batch))
            if not ok:
                with self.lock:
                    self.stats.records_failed += len(batch)
                return
            failed: set[str] | None = set()
            if REPORT_BATCH_ITEM_FAILURES in self.runner.sqs_function_response_types:
                failed = _batch_item_failures(result, {m["MessageId"] for m in batch})
            if failed is None:
                failed = {m["MessageId"] for m in batch}
            to_delete = [m for m in batch if m["MessageId"] not in failed]
            self._delete(to_delete)
            with self.lock:
                self.stats.records_processed += len(to_delete)
                self.stats.records_failed += len(batch) - len(to_delete)
        except Exception as exc:
            logger.warning("%s: batch bookkeeping failed: %r", self.name, exc)
        finally:
            with self.lock:
                self.active -= 1
                self.busy -= 1
            self.runner.note_activity(self.source_arn)
            self.slots.release()

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        sqs = self.runner.client("sqs")
        for start in range(0, len(messages), _SQS_RECEIVE_MAX):
            chunk = messages[start : start + _SQS_RECEIVE_MAX]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            try:
                response = sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                logger.warning("%s: delete_message_batch failed: %r", self.name, exc)
                continue
            for failure in response.get("Failed", []):
                # Typically a receipt the handler already deleted itself.
                logger.debug("%s: delete failed (ignored): %s", self.name, failure)

    def idle_since(self, t_ref: float) -> bool:
        with self.lock:
            if self.busy or self.last_empty_poll <= t_ref:
                return False
        attrs = self.runner.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(v) == 0 for v in attrs.values())


def _batch_item_failures(result: Any, message_ids: set[str]) -> set[str] | None:
    """Failed ids from a ReportBatchItemFailures response; None means "whole batch failed"."""
    if not isinstance(result, Mapping) or "batchItemFailures" not in result:
        return set()
    items = result.get("batchItemFailures")
    if not items:
        return set()
    if not isinstance(items, list):
        return None
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not ident or ident not in message_ids:
            return None
        failed.add(str(ident))
    return failed
