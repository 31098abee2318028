"""The projector Lambda's logic: Kinesis records -> account and loyalty read models.

Each record is one CloudEvent. An event is applied to a read model only when
its ``aggregateversion`` is the next one that model expects from that
aggregate: older versions are duplicates (skipped), a newer one means a
predecessor is missing, so OutOfOrderEvent fails the batch and Kinesis
retries it (already applied records are then skipped as duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from chalicelib.events import USER_CREATED, parse_event
from chalicelib.exceptions import ConcurrencyConflict, InvalidEvent, OutOfOrderEvent
from chalicelib.observability import BatchObserver, Outcome
from chalicelib.read_models import ReadModelStore, Stored
from projections import accounts, loyalty
from projections.envelope import Event, from_mapping
from projections.errors import ProjectionError
from projections.ordering import Arrival, arrival

__all__ = ["ProjectorStats", "project_records"]

S = TypeVar("S")

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
    history: Callable[[str], Iterable[bytes | str]] | None = None,
    observer: BatchObserver | None = None,
) -> ProjectorStats:
    """Apply each record's event to the read models it changes, in order.

    On a gap (a predecessor not applied yet) the missing events are read from
    ``history`` (the aggregate's ledger events, the source of truth) when
    given, so a lost or reordered stream record cannot stall a shard; without
    it OutOfOrderEvent fails the batch. Raises InvalidEvent for a record that
    is not a valid event (or that no valid history can produce, e.g. an
    overdraft). ``observer`` logs each record's outcome.
    """
    stats = ProjectorStats()

    def apply_one(event: Event) -> bool | None:
        if event.type in accounts.ACCOUNT_TYPES:
            return _apply(
                event,
                load=lambda e: store.load_account(e.subject),
                save=store.save_account,
                evolve=accounts.evolve,
            )
        if event.type in loyalty.LOYALTY_TYPES:
            return _apply(
                event,
                load=lambda e: store.load_loyalty(e.data.user_id or ""),
                save=store.save_loyalty,
                evolve=lambda state, e: _evolve_loyalty(store, state, e),
            )
        return None

    for raw in records:
        with _observed(observer, raw) as slot:
            event = _decode(raw)
            try:
                outcome = apply_one(event)
            except OutOfOrderEvent:
                if history is None:
                    raise
                for earlier in history(event.subject):
                    previous = _decode(earlier)
                    if previous.aggregateversion < event.aggregateversion:
                        apply_one(previous)
                outcome = apply_one(event)
            if outcome is None:
                stats.ignored += 1
                slot["outcome"] = Outcome.IGNORED
            elif outcome:
                stats.applied += 1
            else:
                stats.duplicates += 1
                slot["outcome"] = Outcome.DUPLICATE
    return stats


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


def _apply(
    event: Event,
    *,
    load: Callable[[Event], Stored[Any] | None],
    save: Callable[[Stored[Any], int], None],
    evolve: Callable[[Any, Event], Any],
) -> bool:
    """Apply ``event`` to one read model; False if it was already applied."""
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = load(event)
        positions = dict(stored.positions) if stored else {}
        current = positions.get(event.subject, 0)
        where = arrival(current, event.aggregateversion)
        if where is Arrival.DUPLICATE:
            return False
        if where is Arrival.EARLY:
            raise OutOfOrderEvent(
                f"{event.type} {event.subject} v{event.aggregateversion}: "
                f"read model is at v{current}"
            )
        try:
            state = evolve(stored.state if stored else None, event)
        except ProjectionError as exc:
            raise InvalidEvent(str(exc)) from exc
        positions[event.subject] = event.aggregateversion
        try:
            save(Stored(state, positions), stored.version if stored else 0)
        except ConcurrencyConflict:
            continue
        return True
    raise OutOfOrderEvent(f"{event.subject} v{event.aggregateversion}: kept losing write races")


def _evolve_loyalty(
    store: ReadModelStore, state: loyalty.Loyalty | None, event: Event
) -> loyalty.Loyalty | None:
    new = loyalty.evolve(state, event, store.policy)
    if new is not None and event.type == USER_CREATED and new.bonus_points == 0:
        # Live, places go in projection order; a replay re-ranks them by registration time.
        policy = store.policy
        if store.claim_early_adopter(new.user_id, policy.early_adopter_count):
            new = replace(new, bonus_points=policy.early_adopter_bonus)
    return new
