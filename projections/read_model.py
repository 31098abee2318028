"""What a read model is, purely: its key, its fold, its stored shape and its replay.

A read model is declared once in ``chalicelib.resources.READ_MODELS`` (its
name, the event types it reads, where its definition lives and how large one
item may grow); the definition it names is a ``ReadModelFold`` built here or
in a fold module. The live projector, the read-model store and
scripts/replay.py work on any declared read model through it, so adding a
read model is adding a fold module and a declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from projections.catalogue import Event
from projections.errors import ProjectionError
from projections.replay import Projection, Row

__all__ = ["FoldProjection", "FoldReducer", "ReadModelFold", "Settling"]

S = TypeVar("S")


class Settling(msgspec.Struct, Generic[S], frozen=True):
    """How a state that keeps events waiting on its key's own aggregate is settled.

    ``settle(state, watermark)`` folds in what a *watermark* (a canonical
    time before which no event of the key's own aggregate can still be
    committed) makes final, so the state stops growing with the waiting
    events; it changes no result. ``due(state, watermark)`` says whether
    settling is worth the ledger read that vouches for the watermark.
    """

    due: Callable[[S, str], bool]
    settle: Callable[[S, str], S]


class ReadModelFold(msgspec.Struct, Generic[S], frozen=True):
    """A read model's pure parts.

    ``key`` names the item an event changes (None: none); ``evolve`` is the
    fold (state, event) -> state; ``to_item``/``from_item`` convert a state to
    the attributes of its item and back (the store adds ``pk``, ``kind``,
    ``version`` and ``positions``); ``projection`` folds a whole history for
    replay (``FoldProjection(key, evolve)`` unless the model has a faster one).
    ``live_evolve``, when set, is the live consumer's fold given its store
    (state, event, store) -> state, for a model whose live rule needs shared
    state a replay computes at the end (loyalty's early-adopter places);
    ``after_rebuild`` then records that shared state (states, store) -> None.
    ``settling``, when set, bounds a state that holds events waiting on its
    key's own aggregate (loyalty's pending purchases): the projector and a
    replay settle it at a watermark the ledger vouches for.
    """

    key: Callable[[Event], str | None]
    evolve: Callable[[S | None, Event], S | None]
    to_item: Callable[[S], dict[str, Any]]
    from_item: Callable[[Mapping[str, Any]], S]
    projection: Projection[S]
    live_evolve: Callable[[S | None, Event, Any], S | None] | None = None
    after_rebuild: Callable[[Mapping[str, S], Any], None] | None = None
    settling: Settling[S] | None = None


class FoldReducer(Generic[S]):
    """Replay accumulator for any ``key`` + ``evolve``: one state per key.

    The engine's row per aggregate is ``[version]`` until the aggregate's
    first event with a key, then ``[version, key]``.
    """

    def __init__(
        self,
        key: Callable[[Event], str | None],
        evolve: Callable[[S | None, Event], S | None],
    ) -> None:
        self.states: dict[str, S] = {}
        states = self.states

        def apply(row: Row, event: Event) -> None:
            name = key(event)
            if name is None:
                return
            state = evolve(states.get(name), event)
            if state is not None:
                states[name] = state
            if len(row) == 1:
                row.append(name)

        self.apply = apply

    def finish(self, rows: Mapping[str, Row]) -> dict[str, S]:
        return self.states

    def partial(self) -> dict[str, S]:
        """The states folded so far (a parallel replay's part)."""
        return self.states

    def absorb(self, partial: Mapping[str, S]) -> None:
        """Take another part's states; a key both parts folded cannot be merged."""
        shared = self.states.keys() & partial.keys()
        if shared:
            raise ProjectionError(
                f"keys folded from aggregates of two parts: {sorted(shared)[:3]} "
                "(this fold's keys span aggregates; it needs its own merge)"
            )
        self.states.update(partial)

    @staticmethod
    def positions(rows: Mapping[str, Row]) -> dict[str, dict[str, int]]:
        """Per key: the last version of every aggregate folded into it."""
        out: dict[str, dict[str, int]] = {}
        for subject, row in rows.items():
            if len(row) == 2:
                out.setdefault(row[1], {})[subject] = row[0]
        return out


class FoldProjection(msgspec.Struct, Generic[S], frozen=True):
    """A replayable projection from a key function and a fold."""

    name: str
    key: Callable[[Event], str | None]
    evolve: Callable[[S | None, Event], S | None]

    def reducer(self) -> FoldReducer[S]:
        return FoldReducer(self.key, self.evolve)
