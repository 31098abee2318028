"""One event source mapping: the base of every source, its counters, what it needs of the runner."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalice.app import Chalice

from chalicelib.resources import KinesisRetrySpec
from local_aws.event_sources.backoff import IdleBackoff
from local_aws.event_sources.checkpoints import CheckpointStore
from local_aws.event_sources.clients import ClientFactory
from local_aws.event_sources.context import LambdaContext

__all__ = ["Runner", "Source", "SourceStats"]

logger = logging.getLogger(__name__)


class Runner(Protocol):
    """What a source needs of the runner that drives it (``EventSourceRunner``)."""

    app: Chalice
    client: ClientFactory
    checkpoints: CheckpointStore
    retry: KinesisRetrySpec
    sqs_function_response_types: frozenset[str]
    failure_queue_url: str | None
    region: str
    account: str
    idle_poll_seconds: float
    dynamodb_idle_poll_seconds: float
    retry_backoff_seconds: float
    default_sqs_concurrency: int
    function_timeout_seconds: float
    stop_event: threading.Event

    def clock(self) -> float: ...

    def note_activity(self, source_arn: str | None = None) -> None: ...

    def wake_count(self, source_arn: str) -> int: ...

    def pause(self, seconds: float, source_arn: str, wakes: int) -> bool: ...

    def idle_backoff(self, base: float) -> IdleBackoff: ...


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


class Source(ABC):
    """One event source mapping."""

    kind = "base"

    def __init__(self, runner: Runner, name: str) -> None:
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
