"""The runner: one poller per event source of the app, their wake-ups, idle detection."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict

import boto3
from botocore.exceptions import ClientError
from chalice.app import Chalice, DynamoDBEventConfig, KinesisEventConfig, SQSEventConfig

from chalicelib.resources import KINESIS_RETRY, SQS_FUNCTION_RESPONSE_TYPES, KinesisRetrySpec
from local_aws.event_sources.backoff import IdleBackoff
from local_aws.event_sources.checkpoints import CheckpointStore
from local_aws.event_sources.clients import ClientFactory, make_client_factory
from local_aws.event_sources.dynamodb import DynamoDBSource
from local_aws.event_sources.kinesis import KinesisSource
from local_aws.event_sources.source import Source
from local_aws.event_sources.sqs import SqsSource

__all__ = ["EventSourceRunner"]

logger = logging.getLogger(__name__)


class EventSourceRunner:
    """Polls the app's SQS/Kinesis/DynamoDB event sources and invokes its handlers.

    ``failure_queue_url`` is the on-failure destination of stream sources (a
    queue URL, name or ARN);
    ``checkpoint_path`` (optional) persists stream checkpoints across restarts;
    ``sqs_function_response_types`` are the SQS mappings' ``FunctionResponseTypes``
    (with ``ReportBatchItemFailures`` a handler's ``batchItemFailures`` are read);
    ``only`` restricts the runner to the named handlers;
    ``idle_poll_seconds`` is how long an idle poller sleeps unless woken
    (``dynamodb_idle_poll_seconds`` for table streams, default the same: tables
    are often written by other processes, which wake them with
    ``wake_table_streams``, or not at all);
    ``max_idle_poll_seconds`` (default: no back-off) is how far that pause
    doubles, empty poll after empty poll, once a poller has been idle for
    ``busy_seconds`` (local_aws.event_sources.backoff);
    ``clock`` (monotonic seconds) times batching windows and the back-off.
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
        sqs_function_response_types: Iterable[str] = SQS_FUNCTION_RESPONSE_TYPES,
        idle_poll_seconds: float = 0.2,
        dynamodb_idle_poll_seconds: float | None = None,
        max_idle_poll_seconds: float | None = None,
        busy_seconds: float = 0.0,
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
        self.sqs_function_response_types = frozenset(sqs_function_response_types)
        self.idle_poll_seconds = idle_poll_seconds
        self.dynamodb_idle_poll_seconds = (
            idle_poll_seconds if dynamodb_idle_poll_seconds is None else dynamodb_idle_poll_seconds
        )
        self.max_idle_poll_seconds = max_idle_poll_seconds
        self.busy_seconds = busy_seconds
        self.clock = clock
        self.retry_backoff_seconds = retry_backoff_seconds
        self.default_sqs_concurrency = default_sqs_concurrency
        self.function_timeout_seconds = function_timeout_seconds
        self.stop_event = threading.Event()
        self._activity_lock = threading.Lock()
        self._last_activity = time.monotonic()
        self._wake = threading.Condition()
        self._wakes: dict[str, int] = {}
        self._wake_listeners: list[Callable[[], None]] = []
        self._started = False
        wanted = set(only) if only is not None else None
        self._sources: list[Source] = []
        for config in app.event_sources:
            if wanted is not None and config.name not in wanted:
                continue
            if isinstance(config, SQSEventConfig):
                self._sources.append(SqsSource(self, config))
            elif isinstance(config, KinesisEventConfig):
                self._sources.append(KinesisSource(self, config))
            elif isinstance(config, DynamoDBEventConfig):
                self._sources.append(DynamoDBSource(self, config))
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
        """End the pause of every poller (but those of ``except_arn``): each polls once more.

        The wake listeners are called too (they may read what a handler wrote).
        """
        self._wake_sources(lambda source: source.source_arn != except_arn)
        for listener in list(self._wake_listeners):
            listener()

    def wake_table_streams(self) -> None:
        """End the pause of every table stream's pollers: another process wrote a table."""
        self._wake_sources(lambda source: isinstance(source, DynamoDBSource))

    def add_wake_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` on every ``wake`` (each handler run): another reader of a stream."""
        self._wake_listeners.append(listener)

    def _wake_sources(self, which: Callable[[Source], bool]) -> None:
        with self._wake:
            for source in self._sources:
                if which(source):
                    arn = source.source_arn
                    self._wakes[arn] = self._wakes.get(arn, 0) + 1
            self._wake.notify_all()

    def wake_count(self, source_arn: str) -> int:
        """Wake-ups of ``source_arn``'s pollers so far: read before a poll, for ``pause``."""
        with self._wake:
            return self._wakes.get(source_arn, 0)

    def pause(self, seconds: float, source_arn: str, wakes: int) -> bool:
        """Sleep up to ``seconds``; at once if stopping or woken since ``wakes`` was read.

        Reading the count before the poll means a wake-up between the poll and the
        pause is not missed. True if woken (or stopping), False if the time ran out.
        """
        with self._wake:
            return self._wake.wait_for(
                lambda: self._wakes.get(source_arn, 0) != wakes or self.stop_event.is_set(),
                timeout=seconds,
            )

    def idle_backoff(self, base: float) -> IdleBackoff:
        """A poller's pause after empty polls, from ``base`` up to ``max_idle_poll_seconds``."""
        return IdleBackoff(
            base, self.max_idle_poll_seconds, busy_seconds=self.busy_seconds, clock=self.clock
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
