"""The projector Lambda's logic: Kinesis records -> the declared read models.

Every read model declared in resources.READ_MODELS is kept the same way: the
events of its types go to the item its key function names, folded by its
pure fold (chalicelib.adapters.read_model_catalog).

Each record is one CloudEvent. An event is applied to a read model only when
its ``aggregateversion`` is the next one that model expects from that
aggregate: older versions are duplicates (skipped), a newer one means a
predecessor is missing, so OutOfOrderEvent fails the batch and Kinesis
retries it (already applied records are then skipped as duplicates).

A model declared with ``position_items`` keeps the positions of the other
aggregates it folds (loyalty: each purchase) in items of their own, written
in the same transaction (chalicelib.adapters.read_models), so its item does not grow
with them; a model with ``settling`` (loyalty's pending purchases) is settled
at the ledger's watermark once it is due (``_settled``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import msgspec

from chalicelib.adapters.observability import BatchObserver, Outcome, safe_reason
from chalicelib.adapters.read_model_catalog import ReadModel
from chalicelib.adapters.read_models import ReadModelStore, Stored
from chalicelib.domain.events import parse_event, utc_now
from chalicelib.domain.exceptions import ConcurrencyConflict, InvalidEvent, OutOfOrderEvent
from projections.catalogue import Event, decode_event
from projections.errors import ProjectionError
from projections.ordering import Arrival, arrival
from projections.timekeys import time_key

__all__ = [
    "EVENT_COMMIT_BOUND",
    "ProjectorStats",
    "apply_history",
    "project_records",
    "settle_watermark",
]

# Concurrent writers of one item are rare (two shards touching one user); a few
# reloads settle it, and a batch retry covers the rest.
MAX_CONFLICT_RETRIES = 5

# An event's time is stamped by the function that appends it, before its
# conditional write to the ledger; the function's timeout bounds the gap
# (tests/handler/test_projector.py checks every one), so an event still to be
# committed is never older than now minus this.
EVENT_COMMIT_BOUND = timedelta(minutes=2)

History = Callable[[str], Iterable[bytes | str]]


def settle_watermark(now: datetime) -> str:
    """The time before which no event can still be committed (canonical)."""
    return time_key(now - EVENT_COMMIT_BOUND)


class ProjectorStats(msgspec.Struct):
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0


def project_records(
    records: Iterable[bytes | str],
    store: ReadModelStore,
    models: Sequence[ReadModel[Any]],
    history: Callable[[str], Iterable[bytes | str]] | None = None,
    observer: BatchObserver | None = None,
    guard: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ProjectorStats:
    """Apply each record's event to every one of ``models`` it changes, in order.

    On a gap (a predecessor not applied yet) the missing events are read from
    ``history`` (the aggregate's ledger events, the source of truth) when
    given, so a lost or reordered stream record cannot stall a shard; without
    it OutOfOrderEvent fails the batch. Raises InvalidEvent for a record that
    is not a valid event (or that no valid history can produce, e.g. an
    overdraft). ``observer`` logs each record's outcome. With ``history``, a
    model with ``settling`` is settled up to the watermark that the ledger
    and ``clock`` give.

    Read models are isolated from one another: when one fails on a record
    (``guard(name)`` raising is a failure too: the fault switch), it is left
    out for the rest of the batch while the others go on to its end; then its
    first error fails the batch, so Kinesis retries it (the others skip what
    they applied as duplicates) and finally sends it to the failure queue.
    """
    stats = ProjectorStats()
    failed: dict[str, Exception] = {}

    def apply_to(model: ReadModel[Any], key: str, event: Event) -> bool:
        try:
            return _apply(event, model, key, store, history, clock)
        except OutOfOrderEvent:
            if history is None:
                raise
            for earlier in history(event.subject):
                previous = _decode(earlier)
                if previous.aggregateversion < event.aggregateversion and model.reads(previous):
                    _apply(previous, model, key, store, history, clock)
            return _apply(event, model, key, store, history, clock)

    for raw in records:
        with _observed(observer, raw) as slot:
            event = _decode(raw)
            outcome: bool | None = None
            here: list[tuple[str, Exception]] = []
            for model in models:
                key = model.fold.key(event) if model.reads(event) else None
                if key is None or model.label in failed:
                    continue
                try:
                    if guard is not None:
                        guard(model.name)
                    applied = apply_to(model, key, event)
                except Exception as exc:  # isolated: the other read models go on
                    failed[model.label] = exc
                    here.append((model.label, exc))
                    continue
                outcome = applied or bool(outcome)
            if outcome is None:
                stats.ignored += 1
                slot["outcome"] = Outcome.IGNORED
            elif outcome:
                stats.applied += 1
            else:
                stats.duplicates += 1
                slot["outcome"] = Outcome.DUPLICATE
            if here:
                gaps = all(isinstance(exc, OutOfOrderEvent) for _, exc in here)
                slot["outcome"] = Outcome.GAP_RETRY if gaps else Outcome.FAILED
                slot["reason"] = "; ".join(f"{label}: {safe_reason(exc)}" for label, exc in here)
    if failed:
        raise next(iter(failed.values()))
    return stats


def apply_history(
    store: ReadModelStore, model: ReadModel[Any], key: str, raw_events: Iterable[bytes | str]
) -> int:
    """Apply an aggregate's events (in version order) to item ``key``; how many were new."""
    applied = 0
    for raw in raw_events:
        event = _decode(raw)
        if model.reads(event) and _apply(event, model, key, store):
            applied += 1
    return applied


@contextmanager
def _observed(observer: BatchObserver | None, raw: bytes | str) -> Iterator[dict[str, Any]]:
    if observer is None:
        yield {}
        return
    with observer.event(raw) as slot:
        yield slot


def _decode(raw: bytes | str) -> Event:
    # Full validation (envelope checks too): the projector is not a hot path.
    return parse_event(raw)


def _apply(
    event: Event,
    model: ReadModel[Any],
    key: str,
    store: ReadModelStore,
    history: History | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> bool:
    """Apply ``event`` to ``model``'s item ``key``; False if it was already applied."""
    live_evolve = model.fold.live_evolve
    subject, version = event.subject, event.aggregateversion
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = store.load(model, key)
        kept = dict(stored.positions) if stored else {}
        in_item = model.keeps_in_item(key, subject, kept)
        current = kept.get(subject, 0) if in_item else store.position(model, subject)
        where = arrival(current, version)
        if where is Arrival.DUPLICATE:
            return False
        if where is Arrival.EARLY:
            raise OutOfOrderEvent(
                f"{model.name}: {event.type} {subject} v{version}: read model is at v{current}"
            )
        previous = stored.state if stored else None
        try:
            if live_evolve is None:
                state = model.fold.evolve(previous, event)
            else:
                state = live_evolve(previous, event, store)
        except ProjectionError as exc:
            raise InvalidEvent(str(exc)) from exc
        if state is None:
            return False
        if in_item:
            kept[subject] = version
        if history is not None:
            state = _settled(model, key, state, kept.get(key, 0), history, clock)
        revision = stored.version if stored else 0
        try:
            store.save(
                model,
                key,
                Stored(state, kept, revision=revision + 1),
                revision,
                None if in_item else (subject, version),
            )
        except ConcurrencyConflict:
            continue
        return True
    raise OutOfOrderEvent(f"{subject} v{version}: kept losing write races")


def _settled(
    model: ReadModel[Any],
    key: str,
    state: Any,
    own_version: int,
    history: History,
    clock: Callable[[], datetime],
) -> Any:
    """``state`` settled up to the ledger's watermark, when the model says it is due.

    The watermark holds only if every event of the key's own aggregate (the
    user, for loyalty) that the ledger has is folded: with one still on its
    way in the stream, the state waits (that event settles it when it comes).
    """
    settling = model.fold.settling
    if settling is None:
        return state
    watermark = settle_watermark(clock())
    if not settling.due(state, watermark):
        return state  # not worth a ledger read yet
    if any(decode_event(raw).aggregateversion > own_version for raw in history(key)):
        return state
    return settling.settle(state, watermark)
