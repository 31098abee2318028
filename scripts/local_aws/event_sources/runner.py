"""Run a Chalice app's SQS, Kinesis and DynamoDB-stream handlers like Lambda would.

moto stores queues and streams but never runs Lambda event source mappings, so
the local stack uses :class:`EventSourceRunner` instead. For every event source
declared on the app (``app.event_sources``) it polls the queue or stream with
ordinary boto3 calls and invokes ``app.handler_map[name](event, context)`` with
a Lambda-shaped event:

- SQS: batches of up to ``batch_size`` messages gathered for at most
  ``maximum_batching_window_in_seconds``; at most ``maximum_concurrency``
  concurrent invocations per queue. A normal return deletes the batch (or, if
  the handler returns ``{"batchItemFailures": [...]}``, all but those); an
  exception deletes nothing, so the queue's redrive policy applies.
- Kinesis and DynamoDB streams: every shard in parallel, each strictly in
  order, checkpointed (in memory and optionally in a JSON file) only after
  success. A failing batch is retried ``maximum_retry_attempts`` times, then
  bisected; a single record that still fails goes to the on-failure SQS queue
  with a Lambda-style on-failure record, and the shard moves on.

Batching windows are Lambda's for these sources: the next window begins as soon
as the previous invocation completes (not when the first record arrives, as for
Kafka and MQ), so a record reaching a source idle for longer than its window is
handed over at once, and a batch still waits out its window unless it is full.
An idle poller sleeps ``idle_poll_seconds`` between polls, but a handler run
wakes the idle pollers of every other queue and stream at once: that handler may
just have written to them.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from chalice.app import Chalice, DynamoDBEventConfig, KinesisEventConfig, SQSEventConfig

from chalicelib.resources import KINESIS_RETRY, KinesisRetrySpec

__all__ = [
    "CheckpointStore",
    "ClientFactory",
    "EventSourceRunner",
    "LambdaContext",
    "SourceStats",
    "make_client_factory",
]

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

_SQS_RECEIVE_MAX = 10
_SHARD_REFRESH_SECONDS = 2.0
# moto (the in-process DynamoDB of the handler tests) replaces a table's stream
# shard object when it rolls back a failed transaction, and an old iterator keeps
# reading the orphaned shard; so an idle iterator is renewed from the checkpoint
# this often. DynamoDB Local (the local stack's) does not need it; it is harmless.
_ITERATOR_RENEW_SECONDS = 1.0
_EXPIRED_ITERATOR = {"ExpiredIteratorException", "TrimmedDataAccessException"}


def make_client_factory(session: boto3.session.Session | None = None) -> ClientFactory:
    """A thread-safe, caching ``service -> boto3 client`` factory over ``session``.

    Sessions are not thread-safe (clients are), so clients are created under a
    lock and shared. boto3 itself honours ``AWS_ENDPOINT_URL`` and the
    service-specific ``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL_DYNAMODB_STREAMS``.
    """
    sess = session or boto3.session.Session()
    lock = threading.Lock()
    cache: dict[str, Any] = {}
    config = Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3})

    def factory(service: str) -> Any:
        with lock:
            if service not in cache:
                cache[service] = sess.client(service, config=config)  # type: ignore[call-overload]
            return cache[service]

    return factory


class CheckpointStore:
    """Sequence-number checkpoints by key, in memory and optionally in a JSON file.

    The file is rewritten atomically on every change, so a restart resumes.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if self._path is not None and self._path.exists():
            try:
                loaded = json.loads(self._path.read_text(encoding="utf-8") or "{}")
                self._data = {str(k): str(v) for k, v in loaded.items()}
            except (OSError, ValueError) as exc:
                logger.warning("ignoring unreadable checkpoint file %s: %s", self._path, exc)

    def get(self, key: str) -> str | None:
        """The checkpointed sequence number for ``key``, if any."""
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, sequence_number: str) -> None:
        """Record ``sequence_number`` for ``key`` (and persist it)."""
        with self._lock:
            self._data[key] = sequence_number
            if self._path is not None:
                self._write()

    def snapshot(self) -> dict[str, str]:
        """A copy of all checkpoints."""
        with self._lock:
            return dict(self._data)

    def _write(self) -> None:
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=self._path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class LambdaContext:
    """The subset of the Lambda context object handlers commonly use."""

    def __init__(self, function_name: str, region: str, account: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (notional) Lambda timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class SourceStats:
    """Counters of one event source."""

    invocations: int = 0
    failures: int = 0
    records_processed: int = 0
    records_failed: int = 0
    records_to_failure_destination: int = 0
    records_discarded: int = 0
    max_concurrency_seen: int = 0


class _Stopped(Exception):
    """The runner is stopping: abandon the current batch without checkpointing."""


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def _iso_millis(value: Any) -> str:
    dt = datetime.fromtimestamp(_epoch(value), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _client_error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _arn_part(arn: str, index: int, default: str) -> str:
    parts = arn.split(":")
    return parts[index] if len(parts) > index and parts[index] else default


def _attribute_value_to_lambda(value: Any) -> Any:
    """DynamoDB JSON from boto3 (binary as bytes) to the stream-event form (base64)."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for kind, inner in value.items():
        if kind == "B" and isinstance(inner, bytes | bytearray):
            out[kind] = base64.b64encode(inner).decode("ascii")
        elif kind == "BS":
            out[kind] = [
                base64.b64encode(b).decode("ascii") if isinstance(b, bytes | bytearray) else b
                for b in inner
            ]
        elif kind == "M":
            out[kind] = {k: _attribute_value_to_lambda(v) for k, v in inner.items()}
        elif kind == "L":
            out[kind] = [_attribute_value_to_lambda(v) for v in inner]
        else:
            out[kind] = inner
    return out


def _image_to_lambda(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {k: _attribute_value_to_lambda(v) for k, v in image.items()}


class _Source(ABC):
    """One event source mapping."""

    kind = "base"

    def __init__(self, runner: EventSourceRunner, name: str) -> None:
        self.runner = runner
        self.name = name
        self.stats = SourceStats()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.function_name = f"{runner.app.app_name}-local-{name}"

    @property
    def handler(self) -> Callable[..., Any]:
        return self.runner.app.handler_map[self.name]

    @property
    @abstractmethod
    def source_arn(self) -> str:
        """The queue's or stream's ARN (known once prepared)."""

    @abstractmethod
    def prepare(self) -> None:
        """Resolve resources (called synchronously from ``start``)."""

    @abstractmethod
    def launch(self) -> None:
        """Start the polling thread(s)."""

    @abstractmethod
    def idle_since(self, t_ref: float) -> bool:
        """True if nothing is in flight and a poll that started after ``t_ref`` found nothing."""

    def spawn(self, target: Callable[..., Any], *args: Any, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
        thread.start()
        return thread

    def invoke(self, event: dict[str, Any], records: int) -> tuple[bool, Any, BaseException | None]:
        """Invoke the handler; never raises (errors are returned)."""
        ctx = LambdaContext(
            self.function_name,
            self.runner.region,
            self.runner.account,
            self.runner.function_timeout_seconds,
        )
        with self.lock:
            self.stats.invocations += 1
        try:
            result = self.handler(event, ctx)
        except Exception as exc:
            with self.lock:
                self.stats.failures += 1
            logger.warning(
                "%s: handler failed on a batch of %d record(s): %r",
                self.name,
                records,
                exc,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            return False, None, exc
        finally:
            self.runner.note_activity(self.source_arn)
        return True, result, None


class _SqsSource(_Source):
    kind = "sqs"

    def __init__(self, runner: EventSourceRunner, config: SQSEventConfig) -> None:
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

    def prepare(self) -> None:
        sqs = self.runner.client("sqs")
        queue_name = self.config.queue or (self.config.queue_arn or "").rsplit(":", 1)[-1]
        self.queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        if not self.queue_arn:
            attrs = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self.queue_arn = attrs["Attributes"]["QueueArn"]
        self.runner.account = _arn_part(self.queue_arn, 4, self.runner.account)

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
        # or idle_poll_seconds passed (someone else may have).
        wakes = runner.wake_count(self.queue_arn)
        batch = self._receive(self.batch_size, wait_s=0)
        if not batch:
            with self.lock:
                if self.busy == 0:
                    self.last_empty_poll = started
            runner.pause(runner.idle_poll_seconds, self.queue_arn, wakes)
            return []
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


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    start_kind: str = "TRIM_HORIZON"
    initial_iterator: str | None = None
    thread: threading.Thread | None = None
    busy: bool = False
    finished: bool = False
    last_empty_poll: float = -math.inf
    iterator_born: float = 0.0
    window_started: float = -math.inf


class _StreamSource(_Source):
    """Common shard-polling logic for Kinesis and DynamoDB streams."""

    batch_info_key = ""
    record_source = ""

    def __init__(
        self, runner: EventSourceRunner, config: KinesisEventConfig | DynamoDBEventConfig
    ) -> None:
        super().__init__(runner, config.name)
        self.batch_size = max(1, int(config.batch_size))
        self.window = float(config.maximum_batching_window_in_seconds or 0)
        self.starting_position = (config.starting_position or "LATEST").upper()
        self.stream_arn = ""
        self.checkpoint_namespace = ""
        self.shards: dict[str, _Shard] = {}

    # -- backend specific -------------------------------------------------
    @abstractmethod
    def list_shards(self) -> list[tuple[str, str | None]]: ...

    @abstractmethod
    def shard_iterator(
        self, shard_id: str, kind: str, sequence_number: str | None = None
    ) -> str: ...

    @abstractmethod
    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]: ...

    @abstractmethod
    def to_event_record(self, shard_id: str, raw: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def sequence_of(self, raw: dict[str, Any]) -> str: ...

    @abstractmethod
    def arrival_of(self, raw: dict[str, Any]) -> Any: ...

    # -- common ---------------------------------------------------------
    def checkpoint_key(self, shard_id: str) -> str:
        return f"{self.name}|{self.checkpoint_namespace}|{shard_id}"

    def prepare(self) -> None:
        # LATEST means "written after the runner started": pin those positions now.
        for shard_id, parent in self.list_shards():
            shard = _Shard(shard_id, parent, start_kind=self.starting_position)
            if self.runner.checkpoints.get(self.checkpoint_key(shard_id)) is None:
                shard.initial_iterator = self.shard_iterator(shard_id, self.starting_position)
            self.shards[shard_id] = shard

    def launch(self) -> None:
        for shard in list(self.shards.values()):
            self._start_shard(shard)
        self.spawn(self._discover_loop, name=f"{self.kind}-shards-{self.name}")

    def _start_shard(self, shard: _Shard) -> None:
        shard.thread = self.spawn(
            self._shard_loop, shard, name=f"{self.kind}-{self.name}-{shard.shard_id}"
        )

    def _discover_loop(self) -> None:
        stop = self.runner.stop_event
        while not stop.wait(_SHARD_REFRESH_SECONDS):
            try:
                listed = self.list_shards()
            except Exception as exc:
                logger.debug("%s: listing shards failed: %r", self.name, exc)
                continue
            for shard_id, parent in listed:
                if shard_id in self.shards:
                    continue
                # A shard that appeared after start(): all of it is "new".
                shard = _Shard(shard_id, parent)
                with self.lock:
                    self.shards[shard_id] = shard
                self._start_shard(shard)

    def _fresh_iterator(self, shard: _Shard) -> str:
        seq = self.runner.checkpoints.get(self.checkpoint_key(shard.shard_id))
        if seq is not None:
            try:
                return self.shard_iterator(shard.shard_id, "AFTER_SEQUENCE_NUMBER", seq)
            except ClientError as exc:
                logger.warning(
                    "%s: checkpoint %s of %s unusable (%s); reading from TRIM_HORIZON",
                    self.name,
                    seq,
                    shard.shard_id,
                    _client_error_code(exc),
                )
                return self.shard_iterator(shard.shard_id, "TRIM_HORIZON")
        return self.shard_iterator(shard.shard_id, shard.start_kind)

    @property
    def source_arn(self) -> str:
        return self.stream_arn

    @property
    def idle_poll_seconds(self) -> float:
        return self.runner.idle_poll_seconds

    def _shard_loop(self, shard: _Shard) -> None:
        runner = self.runner
        stop = runner.stop_event
        poll = self.idle_poll_seconds
        # Children of a split/merge wait until their parent is drained (Lambda does too).
        while not stop.is_set():
            parent = self.shards.get(shard.parent_id or "")
            if parent is None or parent.finished:
                break
            stop.wait(poll)
        iterator: str | None = None
        shard.window_started = runner.clock()
        while not stop.is_set():
            try:
                wakes = runner.wake_count(self.stream_arn)
                if iterator is None:
                    iterator = shard.initial_iterator or self._fresh_iterator(shard)
                    shard.initial_iterator = None
                    shard.iterator_born = time.monotonic()
                poll_started = time.monotonic()
                records, next_iterator = self.get_records(iterator, self.batch_size)
                if not records:
                    if next_iterator is None:
                        shard.finished = True
                        return
                    # Keep the same iterator while idle: moto's DynamoDB streams keep
                    # every iterator they hand out, so fresh ones would leak memory.
                    shard.last_empty_poll = poll_started
                    renewable = (
                        self.runner.checkpoints.get(self.checkpoint_key(shard.shard_id)) is not None
                        or shard.start_kind == "TRIM_HORIZON"
                    )
                    if renewable and poll_started - shard.iterator_born > _ITERATOR_RENEW_SECONDS:
                        iterator = None
                    runner.pause(poll, self.stream_arn, wakes)
                    continue
                shard.busy = True
                records, next_iterator = self._fill_window(
                    records, next_iterator, shard.window_started
                )
                self._process(shard, records)
                # Lambda: the next batching window begins when the invocation completes.
                shard.window_started = runner.clock()
                self.runner.checkpoints.set(
                    self.checkpoint_key(shard.shard_id), self.sequence_of(records[-1])
                )
                shard.busy = False
                if next_iterator is None:
                    shard.finished = True
                    return
                iterator = next_iterator
            except _Stopped:
                return
            except Exception as exc:
                shard.busy = False
                code = _client_error_code(exc)
                if code in _EXPIRED_ITERATOR:
                    iterator = None
                    continue
                # Keep the iterator (still valid); retry after a pause.
                logger.warning("%s: shard %s poll failed: %r", self.name, shard.shard_id, exc)
                stop.wait(1.0)

    def _fill_window(
        self, records: list[dict[str, Any]], iterator: str | None, window_started: float
    ) -> tuple[list[dict[str, Any]], str | None]:
        runner = self.runner
        deadline = window_started + self.window
        while (
            iterator is not None
            and len(records) < self.batch_size
            and not runner.stop_event.is_set()
        ):
            remaining = deadline - runner.clock()
            if remaining <= 0:
                break
            wakes = runner.wake_count(self.stream_arn)
            more, next_iterator = self.get_records(iterator, self.batch_size - len(records))
            if more:
                records = records + more
                iterator = next_iterator
            elif next_iterator is None:
                return records, None
            else:
                runner.pause(min(0.1, remaining), self.stream_arn, wakes)
        return records, iterator

    def _process(self, shard: _Shard, raws: list[dict[str, Any]]) -> None:
        """Deliver ``raws`` (retry, bisect, on-failure destination); raise _Stopped on stop."""
        retry: KinesisRetrySpec = self.runner.retry
        stop = self.runner.stop_event
        event = {"Records": [self.to_event_record(shard.shard_id, r) for r in raws]}
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
                raise _Stopped
            if attempts > retry.maximum_retry_attempts:
                break
            if stop.wait(min(self.runner.retry_backoff_seconds * attempts, 2.0)):
                raise _Stopped
        if retry.bisect_batch_on_function_error and len(raws) > 1:
            middle = len(raws) // 2
            self._process(shard, raws[:middle])
            self._process(shard, raws[middle:])
            return
        self._send_to_failure_destination(shard, raws, event["Records"], attempts, error)

    def _send_to_failure_destination(
        self,
        shard: _Shard,
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
                shard.shard_id,
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
            "timestamp": _iso_millis(time.time()),
            self.batch_info_key: {
                "shardId": shard.shard_id,
                "startSequenceNumber": self.sequence_of(raws[0]),
                "endSequenceNumber": self.sequence_of(raws[-1]),
                "approximateArrivalOfFirstRecord": _iso_millis(self.arrival_of(raws[0])),
                "approximateArrivalOfLastRecord": _iso_millis(self.arrival_of(raws[-1])),
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
            shard.shard_id,
            self.sequence_of(raws[0]),
            self.sequence_of(raws[-1]),
        )
        with self.lock:
            self.stats.records_to_failure_destination += len(raws)

    def idle_since(self, t_ref: float) -> bool:
        with self.lock:
            shards = list(self.shards.values())
        return all(
            s.finished or (not s.busy and s.last_empty_poll > t_ref and s.thread is not None)
            for s in shards
        )


class _KinesisSource(_StreamSource):
    kind = "kinesis"
    batch_info_key = "KinesisBatchInfo"

    def __init__(self, runner: EventSourceRunner, config: KinesisEventConfig) -> None:
        super().__init__(runner, config)
        self.stream_name = config.stream
        self.invoke_identity_arn = ""

    def prepare(self) -> None:
        summary = self.runner.client("kinesis").describe_stream_summary(
            StreamName=self.stream_name
        )["StreamDescriptionSummary"]
        self.stream_arn = summary["StreamARN"]
        self.runner.account = _arn_part(self.stream_arn, 4, self.runner.account)
        created = _epoch(summary.get("StreamCreationTimestamp", 0))
        # The creation time tells a re-created stream (same ARN) from the old one.
        self.checkpoint_namespace = f"{self.stream_arn}@{created:.3f}"
        account = _arn_part(self.stream_arn, 4, self.runner.account)
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
                "approximateArrivalTimestamp": _epoch(self.arrival_of(raw)),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{raw['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self.invoke_identity_arn,
            "awsRegion": self.runner.region,
            "eventSourceARN": self.stream_arn,
        }


class _DynamoDBSource(_StreamSource):
    kind = "dynamodb"
    batch_info_key = "DDBStreamBatchInfo"

    def __init__(self, runner: EventSourceRunner, config: DynamoDBEventConfig) -> None:
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
        self.runner.account = _arn_part(arn, 4, self.runner.account)
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
            "ApproximateCreationDateTime": _epoch(self.arrival_of(raw)),
            "Keys": _image_to_lambda(ddb.get("Keys")) or {},
            "SequenceNumber": str(ddb["SequenceNumber"]),
            "SizeBytes": int(ddb.get("SizeBytes", 0)),
            "StreamViewType": ddb.get("StreamViewType", ""),
        }
        for image in ("NewImage", "OldImage"):
            if image in ddb:
                body[image] = _image_to_lambda(ddb[image])
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


class EventSourceRunner:
    """Polls the app's SQS/Kinesis/DynamoDB event sources and invokes its handlers.

    ``failure_queue_url`` is the on-failure destination of stream sources (a
    queue URL, name or ARN);
    ``checkpoint_path`` (optional) persists stream checkpoints across restarts;
    ``only`` restricts the runner to the named handlers;
    ``idle_poll_seconds`` is how long an idle poller sleeps unless a handler runs
    (``dynamodb_idle_poll_seconds`` for table streams, default the same: tables
    are often written by other processes, whose writes wake no poller);
    ``clock`` (monotonic seconds) times batching windows.
    """

    def __init__(
        self,
        app: Chalice,
        session: boto3.session.Session | None = None,
        *,
        client_factory: ClientFactory | None = None,
        failure_queue_url: str | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        retry: KinesisRetrySpec = KINESIS_RETRY,
        idle_poll_seconds: float = 0.2,
        dynamodb_idle_poll_seconds: float | None = None,
        retry_backoff_seconds: float = 0.1,
        default_sqs_concurrency: int = 5,
        function_timeout_seconds: float = 60.0,
        only: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.client: ClientFactory = client_factory or make_client_factory(session)
        self.failure_queue_url = failure_queue_url
        self.checkpoints = CheckpointStore(checkpoint_path)
        self.retry = retry
        self.idle_poll_seconds = idle_poll_seconds
        self.dynamodb_idle_poll_seconds = (
            idle_poll_seconds if dynamodb_idle_poll_seconds is None else dynamodb_idle_poll_seconds
        )
        self.clock = clock
        self.retry_backoff_seconds = retry_backoff_seconds
        self.default_sqs_concurrency = default_sqs_concurrency
        self.function_timeout_seconds = function_timeout_seconds
        self.stop_event = threading.Event()
        self._activity_lock = threading.Lock()
        self._last_activity = time.monotonic()
        self._wake = threading.Condition()
        self._wakes: dict[str, int] = {}
        self._started = False
        wanted = set(only) if only is not None else None
        self._sources: list[_Source] = []
        for config in app.event_sources:
            if wanted is not None and config.name not in wanted:
                continue
            if isinstance(config, SQSEventConfig):
                self._sources.append(_SqsSource(self, config))
            elif isinstance(config, KinesisEventConfig):
                self._sources.append(_KinesisSource(self, config))
            elif isinstance(config, DynamoDBEventConfig):
                self._sources.append(_DynamoDBSource(self, config))
            else:
                logger.info("no local runner for %s (%s)", config.name, type(config).__name__)
        self.region = str(self.client("sqs").meta.region_name)
        self.account = "123456789012"

    @property
    def source_names(self) -> list[str]:
        """Names of the handlers this runner drives."""
        return [s.name for s in self._sources]

    @property
    def running(self) -> bool:
        """Whether ``start`` was called and ``stop`` was not."""
        return self._started and not self.stop_event.is_set()

    def start(self) -> None:
        """Resolve every source (raising if a queue/stream is missing), then start polling."""
        if self._started:
            raise RuntimeError("EventSourceRunner already started")
        if self.failure_queue_url and not self.failure_queue_url.startswith(("http:", "https:")):
            # A queue name (or ARN) rather than a URL.
            name = self.failure_queue_url.rsplit(":", 1)[-1]
            self.failure_queue_url = self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        for source in self._sources:
            source.prepare()
        self.stop_event.clear()
        self._started = True
        for source in self._sources:
            source.launch()
            logger.info("polling %s source for handler %s", source.kind, source.name)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop polling and wait up to ``timeout`` seconds for threads to end."""
        self.stop_event.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for source in self._sources:
            with source.lock:
                threads = list(source.threads)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for s in self._sources for t in s.threads if t.is_alive()]
        if alive:
            logger.warning("threads still running after stop: %s", ", ".join(alive))

    def __enter__(self) -> EventSourceRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def note_activity(self, source_arn: str | None = None) -> None:
        """Record that a handler just ran (it may have produced work for other sources).

        It wakes the pollers of every queue and stream but its own (``source_arn``):
        mappings on one stream read the same records, so one's run makes no work
        for the others, and their pollers need not call the emulator for nothing.
        """
        with self._activity_lock:
            self._last_activity = time.monotonic()
        self.wake(except_arn=source_arn)

    def wake(self, except_arn: str | None = None) -> None:
        """End the pause of every poller (but those of ``except_arn``): each polls once more."""
        with self._wake:
            for source in self._sources:
                arn = source.source_arn
                if arn != except_arn:
                    self._wakes[arn] = self._wakes.get(arn, 0) + 1
            self._wake.notify_all()

    def wake_count(self, source_arn: str) -> int:
        """Wake-ups of ``source_arn``'s pollers so far: read before a poll, for ``pause``."""
        with self._wake:
            return self._wakes.get(source_arn, 0)

    def pause(self, seconds: float, source_arn: str, wakes: int) -> None:
        """Sleep up to ``seconds``; at once if stopping or woken since ``wakes`` was read.

        Reading the count before the poll means a wake-up between the poll and the
        pause is not missed.
        """
        with self._wake:
            self._wake.wait_for(
                lambda: self._wakes.get(source_arn, 0) != wakes or self.stop_event.is_set(),
                timeout=seconds,
            )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no source has pending work; False on timeout.

        Idle means: nothing in flight, every queue empty (no invisible messages
        either) and every shard polled empty after the last handler invocation
        of any source, so chains (stream -> handler -> queue) settle too.
        """
        t0 = time.monotonic()
        deadline = t0 + timeout
        idle_probes = 0
        woken_for = -math.inf
        while time.monotonic() < deadline:
            with self._activity_lock:
                t_ref = max(t0, self._last_activity)
            if t_ref > woken_for:
                # Idle needs a poll that started after t_ref: ask every poller for one
                # rather than wait out its idle pause.
                self.wake()
                woken_for = t_ref
            try:
                idle = all(source.idle_since(t_ref) for source in self._sources)
            except ClientError as exc:
                logger.debug("wait_idle probe failed: %r", exc)
                idle = False
            with self._activity_lock:
                idle = idle and self._last_activity <= t_ref
            # Queue counts are approximate and not read at one instant: a message whose
            # visibility expires during the read can be in neither count. Two idle
            # probes in a row rule that out.
            idle_probes = idle_probes + 1 if idle else 0
            if idle_probes >= 2:
                return True
            time.sleep(0.05)
        return False

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per handler name."""
        out: dict[str, dict[str, int]] = {}
        for source in self._sources:
            with source.lock:
                out[source.name] = asdict(source.stats)
        return out

    def totals(self) -> dict[str, int]:
        """Counters summed over all sources (``max_concurrency_seen`` is the max)."""
        total: dict[str, int] = {}
        for counters in self.stats().values():
            for key, value in counters.items():
                if key == "max_concurrency_seen":
                    total[key] = max(total.get(key, 0), value)
                else:
                    total[key] = total.get(key, 0) + value
        return total

    def checkpoints_snapshot(self) -> dict[str, str]:
        """Current stream checkpoints (``<handler>|<stream>|<shard>`` -> sequence number)."""
        return self.checkpoints.snapshot()
