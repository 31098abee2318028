"""The projector Lambda's logic: Kinesis records -> the declared read models.

Every read model declared in resources.READ_MODELS is kept the same way: the
events of its types go to the item its key function names, folded by its
pure fold (chalicelib.read_model_catalog).

Each record is one CloudEvent. An event is applied to a read model only when
its ``aggregateversion`` is the next one that model expects from that
aggregate: older versions are duplicates (skipped), a newer one means a
predecessor is missing, so OutOfOrderEvent fails the batch and Kinesis
retries it (already applied records are then skipped as duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalicelib.events import parse_event
from chalicelib.exceptions import ConcurrencyConflict, InvalidEvent, OutOfOrderEvent
from chalicelib.observability import BatchObserver, Outcome, safe_reason
from chalicelib.read_model_catalog import ReadModel
from chalicelib.read_models import ReadModelStore, Stored
from projections.envelope import Event, from_mapping
from projections.errors import ProjectionError
from projections.ordering import Arrival, arrival

__all__ = ["ProjectorStats", "apply_history", "project_records"]

# Concurrent writers of one item are rare (two shards touching one user); a few
# reloads settle it, and a batch retry covers the rest.
MAX_CONFLICT_RETRIES = 5


@dataclass
class ProjectorStats:
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
) -> ProjectorStats:
    """Apply each record's event to every one of ``models`` it changes, in order.

    On a gap (a predecessor not applied yet) the missing events are read from
    ``history`` (the aggregate's ledger events, the source of truth) when
    given, so a lost or reordered stream record cannot stall a shard; without
    it OutOfOrderEvent fails the batch. Raises InvalidEvent for a record that
    is not a valid event (or that no valid history can produce, e.g. an
    overdraft). ``observer`` logs each record's outcome.

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
            return _apply(event, model, key, store)
        except OutOfOrderEvent:
            if history is None:
                raise
            for earlier in history(event.subject):
                previous = _decode(earlier)
                if previous.aggregateversion < event.aggregateversion and model.reads(previous):
                    _apply(previous, model, key, store)
            return _apply(event, model, key, store)

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
    event = parse_event(raw)  # full validation: the projector is not a hot path
    try:
        return from_mapping(event.to_dict())
    except Exception as exc:  # the envelope is a subset of a valid CloudEvent
        raise InvalidEvent(f"cannot project event {event.id}: {exc}") from exc


def _apply(event: Event, model: ReadModel[Any], key: str, store: ReadModelStore) -> bool:
    """Apply ``event`` to ``model``'s item ``key``; False if it was already applied."""
    live_evolve = model.fold.live_evolve
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = store.load(model, key)
        positions = dict(stored.positions) if stored else {}
        current = positions.get(event.subject, 0)
        where = arrival(current, event.aggregateversion)
        if where is Arrival.DUPLICATE:
            return False
        if where is Arrival.EARLY:
            raise OutOfOrderEvent(
                f"{model.name}: {event.type} {event.subject} v{event.aggregateversion}: "
                f"read model is at v{current}"
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
        positions[event.subject] = event.aggregateversion
        try:
            store.save(model, key, Stored(state, positions), stored.version if stored else 0)
        except ConcurrencyConflict:
            continue
        return True
    raise OutOfOrderEvent(f"{event.subject} v{event.aggregateversion}: kept losing write races")
