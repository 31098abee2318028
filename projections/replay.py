"""The replay engine: raw CloudEvent JSON in, a folded projection out.

Input comes from the S3 archive and the ledger in any order and with
duplicates (Kinesis and Firehose deliver at least once). Each aggregate's
events are applied in ``aggregateversion`` order: the next expected version is
applied at once, an older or already seen one is a duplicate, and one that
arrives early waits in a per-aggregate buffer until the gap is filled.

The input is an iterable of NDJSON chunks: a whole archive object, or one
event's JSON. Each chunk is decoded in one msgspec call into GC-untracked
typed structs (projections.catalogue: one per event type, upcast to the
current version), without building dicts. That keeps a replay close to the
cost of bare JSON parsing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from projections.catalogue import Event, UnknownEventVersion, decode_event, decode_lines
from projections.errors import InvalidLine
from projections.timekeys import CANONICAL_LENGTH, time_key

__all__ = [
    "Chunk",
    "Filtered",
    "Projection",
    "Reducer",
    "ReplayPart",
    "ReplayResult",
    "ReplayStats",
    "SplitReducer",
    "merge_parts",
    "replay",
    "replay_part",
]

S = TypeVar("S")

Row = list[Any]


class Reducer(Protocol[S]):
    """A projection's accumulator for one replay.

    The engine keeps one row per aggregate (``subject``); ``row[0]`` is the
    aggregate's last applied version and belongs to the engine, the rest of
    the row is the reducer's. ``apply`` gets each aggregate's events in
    version order, exactly once; ``finish`` turns the rows into states.
    """

    def apply(self, row: Row, event: Event, /) -> None: ...

    def finish(self, rows: Mapping[str, Row]) -> dict[str, S]: ...

    def positions(self, rows: Mapping[str, Row]) -> dict[str, dict[str, int]]:
        """Per state key: the last applied version of each aggregate folded into it."""
        ...


class SplitReducer(Reducer[S], Protocol[S]):
    """A reducer whose work can be split by aggregate and merged (a parallel replay).

    ``partial`` is what the reducer holds besides the rows (picklable; None if
    nothing), after folding some aggregates; ``absorb`` merges the partial of
    other aggregates into this reducer, so that ``finish`` over the union of
    the rows gives what one reducer folding every aggregate would.
    """

    def partial(self) -> Any: ...

    def absorb(self, partial: Any, /) -> None: ...


class Projection(Protocol[S]):
    """Something the engine can fold events into."""

    @property
    def name(self) -> str: ...

    def reducer(self) -> Reducer[S]: ...


class ReplayStats(msgspec.Struct):
    """What a replay read and did."""

    events_read: int = 0
    applied: int = 0
    duplicates_skipped: int = 0
    after_until: int = 0
    invalid_lines: int = 0
    # Events still waiting for a missing predecessor when the input ended.
    unresolved_gaps: int = 0
    gap_aggregates: list[str] = msgspec.field(default_factory=list)
    aggregates: int = 0
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events_read / self.seconds if self.seconds > 0 else 0.0


class ReplayResult(msgspec.Struct, Generic[S], frozen=True):
    """The folded states by key, and the stats of the run."""

    states: dict[str, S]
    stats: ReplayStats
    # Per state key, the last applied version of each aggregate folded into it:
    # where a live projector continues from.
    positions: dict[str, dict[str, int]]


class Filtered(msgspec.Struct, frozen=True):
    """A chunk of which only the events of the aggregates ``keep`` accepts are folded.

    Every part reads such a chunk; only the one with ``count_invalid`` counts
    its invalid lines, so the parts' counts add up to one replay's.
    """

    chunk: bytes | str
    keep: Callable[[str], bool]
    count_invalid: bool = False


Chunk = bytes | str | Filtered
"""One input of the engine: an NDJSON buffer, or one to fold only in part."""


class ReplayPart(msgspec.Struct, frozen=True):
    """One worker's fold of a disjoint set of aggregates, before ``finish``."""

    partial: Any
    rows: dict[str, Row]
    stats: ReplayStats


def replay(
    chunks: Iterable[Chunk],
    projection: Projection[S],
    *,
    until: datetime | str | None = None,
    strict: bool = True,
) -> ReplayResult[S]:
    """Fold CloudEvent NDJSON chunks into ``projection``.

    ``until`` keeps only events with ``time <= until``. Blank lines are
    ignored; a line that is not an event raises InvalidLine, or is counted
    in ``stats.invalid_lines`` when ``strict`` is false.
    """
    started = time.perf_counter()
    reducer = projection.reducer()
    rows, stats = _fold(chunks, reducer, until, strict)
    return _finished(reducer, rows, stats, started)


def replay_part(
    chunks: Iterable[Chunk],
    projection: Projection[S],
    *,
    until: datetime | str | None = None,
    strict: bool = True,
) -> ReplayPart:
    """Fold ``chunks`` as ``replay`` does, but stop before ``finish``: one worker's part.

    The chunks must hold whole aggregates no other part holds (an archive
    bucket, or a Filtered chunk); ``merge_parts`` joins the parts.
    """
    started = time.perf_counter()
    reducer = projection.reducer()
    if not hasattr(reducer, "absorb"):
        raise TypeError(f"projection {projection.name} cannot be replayed in parts")
    rows, stats = _fold(chunks, reducer, until, strict)
    stats.seconds = time.perf_counter() - started
    return ReplayPart(reducer.partial(), rows, stats)  # type: ignore[attr-defined]


def merge_parts(projection: Projection[S], parts: Iterable[ReplayPart]) -> ReplayResult[S]:
    """The replay of every part's aggregates: rows united, partials absorbed, counts summed."""
    started = time.perf_counter()
    reducer = projection.reducer()
    rows: dict[str, Row] = {}
    stats = ReplayStats()
    gaps: list[str] = []
    for part in parts:
        overlap = rows.keys() & part.rows.keys()
        if overlap:
            raise ValueError(f"aggregates in two parts: {sorted(overlap)[:3]}")
        rows.update(part.rows)
        reducer.absorb(part.partial)  # type: ignore[attr-defined]
        for name in ("events_read", "applied", "duplicates_skipped", "after_until"):
            setattr(stats, name, getattr(stats, name) + getattr(part.stats, name))
        stats.invalid_lines += part.stats.invalid_lines
        stats.unresolved_gaps += part.stats.unresolved_gaps
        gaps.extend(part.stats.gap_aggregates)
    result = _finished(reducer, rows, stats, started)
    result.stats.gap_aggregates = sorted(gaps)
    return result


def _finished(
    reducer: Reducer[S], rows: dict[str, Row], stats: ReplayStats, started: float
) -> ReplayResult[S]:
    states = reducer.finish(rows)
    stats.aggregates = len(states)
    stats.seconds = time.perf_counter() - started
    return ReplayResult(states=states, stats=stats, positions=reducer.positions(rows))


def _fold(
    chunks: Iterable[Chunk], reducer: Reducer[Any], until: datetime | str | None, strict: bool
) -> tuple[dict[str, Row], ReplayStats]:
    """Apply every event of ``chunks`` to ``reducer``; the rows and the counts."""
    stats = ReplayStats()
    apply = reducer.apply
    rows: dict[str, Row] = {}
    row_of = rows.get
    pending: dict[str, dict[int, Event]] = {}
    cutoff = None if until is None else time_key(until)
    read = duplicates = late = 0

    for events in _decoded(chunks, strict, stats):
        read += len(events)
        for event in events:
            subject = event.subject
            version = event.aggregateversion
            if cutoff is not None:
                stamp = event.time
                if len(stamp) != CANONICAL_LENGTH:
                    stamp = time_key(stamp)
                if stamp > cutoff:
                    late += 1
                    continue
            row = row_of(subject)
            if row is not None and version == row[0] + 1:
                # The hot path: the next version of a known aggregate.
                row[0] = version
                apply(row, event)
                if pending and subject in pending:
                    _drain(subject, row, pending, apply)
            elif row is None and version == 1:
                rows[subject] = row = [1]
                apply(row, event)
                if pending and subject in pending:
                    _drain(subject, row, pending, apply)
            elif version < 1:
                if strict:
                    raise InvalidLine(f"{subject}: aggregateversion {version} < 1")
                read -= 1
                stats.invalid_lines += 1
            elif row is not None and version <= row[0]:
                duplicates += 1
            else:
                waiting = pending.setdefault(subject, {})
                if version in waiting:
                    duplicates += 1
                else:
                    waiting[version] = event

    stats.events_read = read
    stats.duplicates_skipped = duplicates
    stats.after_until = late
    stats.unresolved_gaps = sum(len(waiting) for waiting in pending.values())
    # Every event read was applied, skipped as a duplicate, cut by `until`, or is still waiting.
    stats.applied = read - duplicates - late - stats.unresolved_gaps
    stats.gap_aggregates = sorted(pending)
    return rows, stats


def _decoded(chunks: Iterable[Chunk], strict: bool, stats: ReplayStats) -> Iterator[list[Event]]:
    """Each chunk's events; a chunk that fails as a whole is retried line by line."""
    for chunk in chunks:
        if isinstance(chunk, Filtered):
            keep = chunk.keep
            events = _decoded_one(
                chunk.chunk, strict, stats if chunk.count_invalid else ReplayStats()
            )
            yield [event for event in events if keep(event.subject)]
        else:
            yield _decoded_one(chunk, strict, stats)


def _decoded_one(chunk: bytes | str, strict: bool, stats: ReplayStats) -> list[Event]:
    try:
        return decode_lines(chunk)
    except (msgspec.DecodeError, msgspec.ValidationError, UnknownEventVersion):
        return _decode_each(chunk, strict, stats)


def _decode_each(chunk: bytes | str, strict: bool, stats: ReplayStats) -> list[Event]:
    events = []
    lines: list[Any] = chunk.splitlines()  # type: ignore[assignment]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(decode_event(line))
        except (msgspec.DecodeError, msgspec.ValidationError, UnknownEventVersion) as exc:
            if strict:
                raise InvalidLine(f"line {number} of a chunk: {exc}: {line[:200]!r}") from exc
            stats.invalid_lines += 1
    return events


def _drain(
    subject: str,
    row: Row,
    pending: dict[str, dict[int, Event]],
    apply: Callable[[Row, Event], None],
) -> None:
    """Apply the buffered successors of ``subject`` now that its row advanced."""
    waiting = pending[subject]
    while (event := waiting.pop(row[0] + 1, None)) is not None:
        row[0] += 1
        apply(row, event)
    if not waiting:
        del pending[subject]
