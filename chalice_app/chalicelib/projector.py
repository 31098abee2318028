"""The projector Lambda's logic: Kinesis records -> account and loyalty read models.

Each record is one CloudEvent. An event is applied to a read model only when
its ``aggregateversion`` is the next one that model expects from that
aggregate: older versions are duplicates (skipped), a newer one means a
predecessor is missing, so OutOfOrderEvent fails the batch and Kinesis
retries it (already applied records are then skipped as duplicates).

A loyalty item keeps its user's position; each purchase's position is its
own item, written in the same transaction (chalicelib.read_models), so the
item does not grow with purchases. Its ``pending`` purchases are settled
against the ledger's watermark once there are a few (``_settled``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from chalicelib.events import USER_CREATED, parse_event, utc_now
from chalicelib.exceptions import ConcurrencyConflict, InvalidEvent, OutOfOrderEvent
from chalicelib.observability import BatchObserver, Outcome
from chalicelib.read_models import ReadModelStore, Stored
from projections import accounts, loyalty
from projections.envelope import Event, decode_event, from_mapping
from projections.errors import ProjectionError
from projections.ordering import Arrival, arrival
from projections.timekeys import time_key

__all__ = [
    "SETTLE_PENDING_AT",
    "USER_EVENT_COMMIT_BOUND",
    "ProjectorStats",
    "loyalty_watermark",
    "project_records",
]

S = TypeVar("S")

# Concurrent writers of one item are rare (two shards touching one user); a few
# reloads settle it, and a batch retry covers the rest.
MAX_CONFLICT_RETRIES = 5

# A user event's time is stamped by the API Lambda before its conditional
# write to the ledger; the Lambda's timeout (30 s) bounds the gap, so a user
# event still to be committed is never older than now minus this.
USER_EVENT_COMMIT_BOUND = timedelta(minutes=2)
# Pending purchases are settled against the ledger once this many can be:
# fewer cost little to keep, most users never have as many between lifecycle
# events, and a heavy buyer's item is read from the ledger once per this many.
SETTLE_PENDING_AT = 16


def loyalty_watermark(now: datetime) -> str:
    """The time before which no user event can still be committed (canonical)."""
    return time_key(now - USER_EVENT_COMMIT_BOUND)


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
    clock: Callable[[], datetime] = utc_now,
) -> ProjectorStats:
    """Apply each record's event to the read models it changes, in order.

    On a gap (a predecessor not applied yet) the missing events are read from
    ``history`` (the aggregate's ledger events, the source of truth) when
    given, so a lost or reordered stream record cannot stall a shard; without
    it OutOfOrderEvent fails the batch. Raises InvalidEvent for a record that
    is not a valid event (or that no valid history can produce, e.g. an
    overdraft). ``observer`` logs each record's outcome. With ``history``,
    a user's pending loyalty purchases are settled up to the watermark that
    the ledger and ``clock`` give.
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
            return _apply_loyalty(event, store, history, clock)
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


def _apply_loyalty(
    event: Event,
    store: ReadModelStore,
    history: Callable[[str], Iterable[bytes | str]] | None,
    clock: Callable[[], datetime],
) -> bool:
    """Apply ``event`` to its user's loyalty item; False if it was already applied.

    The user's own events keep their position in the item; any other
    aggregate's (a purchase's) is read from and written to its own item.
    """
    user_id = event.data.user_id or ""
    subject, version = event.subject, event.aggregateversion
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = store.load_loyalty(user_id)
        kept = dict(stored.positions) if stored else {}
        # Items of the former layout keep the positions they hold.
        in_item = subject == user_id or subject in kept
        current = kept.get(subject, 0) if in_item else store.loyalty_position(subject)
        where = arrival(current, version)
        if where is Arrival.DUPLICATE:
            return False
        if where is Arrival.EARLY:
            raise OutOfOrderEvent(f"{event.type} {subject} v{version}: read model is at v{current}")
        try:
            state = _evolve_loyalty(store, stored.state if stored else None, event)
        except ProjectionError as exc:
            raise InvalidEvent(str(exc)) from exc
        assert state is not None  # a loyalty event always yields a state
        if in_item:
            kept[subject] = version
        if history is not None:
            state = _settled(state, kept.get(user_id, 0), history, clock)
        revision = stored.version if stored else 0
        try:
            store.save_loyalty(
                Stored(state, kept, revision=revision + 1),
                revision,
                None if in_item else (subject, version),
            )
        except ConcurrencyConflict:
            continue
        return True
    raise OutOfOrderEvent(f"{subject} v{version}: kept losing write races")


def _settled(
    state: loyalty.Loyalty,
    user_version: int,
    history: Callable[[str], Iterable[bytes | str]],
    clock: Callable[[], datetime],
) -> loyalty.Loyalty:
    """``state`` settled up to the ledger's watermark, when enough pending purchases are older.

    The watermark holds only if every user event the ledger has is folded:
    with one still on its way in the stream, pending waits (that event
    settles what is before it when it comes).
    """
    if len(state.pending) < SETTLE_PENDING_AT:
        return state
    watermark = loyalty_watermark(clock())
    if state.pending[SETTLE_PENDING_AT - 1][0] >= watermark:
        return state  # fewer than SETTLE_PENDING_AT would settle: not worth a ledger read yet
    if any(decode_event(raw).aggregateversion > user_version for raw in history(state.user_id)):
        return state
    return loyalty.settle(state, watermark)


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
