"""Structured logs and CloudWatch metrics (EMF) of the handlers, at the edges.

Every line about an event carries its identifiers only (``event_id``,
``event_type``, ``subject``, ``aggregateversion``), the ``consumer`` and the
``outcome``, so one event id finds every line about it. Event data never
reaches a log line: it holds personal fields. Failure reasons are logged by
exception class, plus the message only for the platform's own messages that
are known to hold identifiers alone.

Metrics are CloudWatch embedded-metric-format JSON lines on stdout (Lambda
ships them to CloudWatch; locally they land in the stack's log), one
namespace, one line per handler invocation and dimension set.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib.domain.exceptions import ConcurrencyConflict, InjectedFault, OutOfOrderEvent

__all__ = [
    "NAMESPACE",
    "SERVICE",
    "BatchObserver",
    "Outcome",
    "bind_caller",
    "bind_request",
    "count_appended",
    "event_fields",
    "log_requests",
    "logger",
    "safe_reason",
]

SERVICE = "event-platform"
# The one CloudWatch namespace of the platform's own metrics (the dashboard reads it).
NAMESPACE = "EventPlatform"

logger = Logger(service=SERVICE)

# Exceptions whose messages hold identifiers only (type, subject, versions).
_SAFE_MESSAGES = (OutOfOrderEvent, ConcurrencyConflict, InjectedFault)


class Outcome(StrEnum):
    """What a handler did with one event."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP_RETRY = "gap-retry"
    FAILED = "failed"
    PUBLISHED = "published"
    RELAYED = "relayed"
    IGNORED = "ignored"
    TRANSFORMED = "transformed"
    REDACTED = "redacted"


# Metric name per outcome, for the counts operators alarm on.
_OUTCOME_METRICS = {
    Outcome.APPLIED: "ConsumerApplied",
    Outcome.DUPLICATE: "ConsumerDuplicate",
    Outcome.GAP_RETRY: "ConsumerGapRetry",
    Outcome.FAILED: "ConsumerFailed",
    Outcome.PUBLISHED: "FanoutPublished",
    Outcome.RELAYED: "RelayForwarded",
}


def event_fields(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """The identifiers of an event (never its data); empty values if ``raw`` is not one."""
    try:
        obj = raw if isinstance(raw, Mapping) else orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = {}
    if not isinstance(obj, Mapping):
        obj = {}
    return {
        "event_id": obj.get("id"),
        "event_type": obj.get("type"),
        "subject": obj.get("subject"),
        "aggregateversion": obj.get("aggregateversion"),
    }


def safe_reason(exc: BaseException) -> str:
    """A failure reason fit for a log line (no event data)."""
    name = type(exc).__name__
    return f"{name}: {exc}" if isinstance(exc, _SAFE_MESSAGES) else name


def _lag_ms(event_time: Any, now: datetime) -> float | None:
    if not isinstance(event_time, str):
        return None
    try:
        then = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((now - then).total_seconds() * 1000, 0.0)


class BatchObserver:
    """Logs one line per event of a handler invocation and flushes its metrics once."""

    def __init__(self, consumer: str, *, lag_metric: str | None = None) -> None:
        self.consumer = consumer
        self._lag_metric = lag_metric
        self._outcomes: Counter[Outcome] = Counter()
        self._lags: list[float] = []
        self.started = time.perf_counter()

    @property
    def seen(self) -> bool:
        """Whether any event's outcome was recorded."""
        return bool(self._outcomes)

    @contextmanager
    def event(self, raw: bytes | str | Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Time one event; the body sets ``["outcome"]`` (and may set ``["reason"]``);
        an exception logs it as failed."""
        fields = event_fields(raw)
        slot: dict[str, Any] = {"outcome": Outcome.APPLIED}
        started = time.perf_counter()
        try:
            yield slot
        except OutOfOrderEvent as exc:
            self.record(fields, Outcome.GAP_RETRY, started, reason=safe_reason(exc))
            raise
        except Exception as exc:
            self.record(fields, Outcome.FAILED, started, reason=safe_reason(exc))
            raise
        self.record(
            fields, Outcome(slot["outcome"]), started, reason=slot.get("reason"), time_of=raw
        )

    def record(
        self,
        fields: Mapping[str, Any],
        outcome: Outcome,
        started: float,
        *,
        reason: str | None = None,
        time_of: bytes | str | Mapping[str, Any] | None = None,
    ) -> None:
        """Log one event's outcome (and count it)."""
        self._outcomes[outcome] += 1
        line = {
            **fields,
            "consumer": self.consumer,
            "outcome": str(outcome),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if reason is not None:
            line["reason"] = reason
        if outcome in (Outcome.FAILED, Outcome.GAP_RETRY):
            logger.warning("event %s", outcome, extra=line)
        else:
            logger.info("event %s", outcome, extra=line)
        if self._lag_metric and outcome == Outcome.APPLIED and time_of is not None:
            lag = _lag_ms(_time_of(time_of), datetime.now(UTC))
            if lag is not None:
                self._lags.append(lag)

    @contextmanager
    def invocation(self, raw_records: Iterable[bytes | str], **counts: int) -> Iterator[None]:
        """Wrap a whole handler call: flush its metrics (and ``counts``) at the end.

        If it fails before any event got an outcome (a batch-level failure),
        every record of ``raw_records`` is logged as failed, with the reason.
        """
        try:
            yield
        except Exception as exc:
            if not self.seen:
                for raw in raw_records:
                    self.record(
                        event_fields(raw), Outcome.FAILED, self.started, reason=safe_reason(exc)
                    )
            raise
        finally:
            self.flush(**counts)

    def flush(self, **counts: int) -> None:
        """Emit this invocation's metrics (outcome counts, lag, extra counts)."""
        metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        metrics.add_dimension(name="consumer", value=self.consumer)
        for outcome, n in self._outcomes.items():
            if outcome in _OUTCOME_METRICS:
                metrics.add_metric(name=_OUTCOME_METRICS[outcome], unit=MetricUnit.Count, value=n)
        for lag in self._lags:
            assert self._lag_metric is not None
            metrics.add_metric(name=self._lag_metric, unit=MetricUnit.Milliseconds, value=lag)
        for name, value in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        if metrics.metric_set:
            metrics.flush_metrics()
        logger.info(
            "batch done",
            extra={
                "consumer": self.consumer,
                "outcomes": {str(k): v for k, v in self._outcomes.items()},
                "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
            },
        )


def _time_of(raw: bytes | str | Mapping[str, Any]) -> Any:
    try:
        obj = raw if isinstance(raw, Mapping) else orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return obj.get("time") if isinstance(obj, Mapping) else None


def count_appended(types: Iterable[str]) -> None:
    """Count events appended to the ledger, per event type (one EMF line per type)."""
    for event_type, n in Counter(types).items():
        metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        metrics.add_dimension(name="type", value=event_type)
        metrics.add_metric(name="EventsAppended", unit=MetricUnit.Count, value=n)
        metrics.flush_metrics()


def log_requests(request: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice HTTP middleware: one line per request (id, route, status, duration).

    Bodies and query strings are never logged (they hold personal fields).
    """
    context = request.context or {}
    bind_request(context.get("requestId") or str(uuid.uuid4()), context.get("resourcePath", ""))
    # Once the bearer token is verified, http.authenticate adds its ``sub`` to these
    # keys (bind_caller), so every later line of the request carries it.
    started = time.perf_counter()
    response = get_response(request)
    logger.info(
        "request",
        extra={
            "method": request.method,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )
    return response


def bind_request(request_id: str | None, route: str) -> None:
    """Start a request's log context (replaces the previous request's keys)."""
    # chalice local serves requests on threads: keep each request's keys to its thread.
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(request_id=request_id, route=route)


def bind_caller(sub: str) -> None:
    """Add the verified caller's ``sub`` to every later line of this request."""
    logger.thread_safe_append_keys(caller_sub=sub)
