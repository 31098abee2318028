"""Rebuild a read model without downtime: a new generation, caught up, then switched to.

1. Open generation g+1 (``building``): from then on the live projector keeps
   it current beside the active one (an item it meets first is filled from
   the ledger, as any gap).
2. Fold the history (archive and ledger) into it; an item the projector
   already moved past is left alone (writes never go back in version).
3. Catch up: every item of the active generation whose aggregates are ahead
   of the new one (events the projector applied before it saw the new
   generation) gets the missing versions from the ledger.
4. Switch: one conditional write of the pointer makes g+1 active; the old
   generation is kept, unchanged, until ``replay.py --drop-previous``.

Readers use the active generation all along, and the new one is at least as
far as the old in every aggregate when they switch: no reader is served a
state older than the one it could read before the rebuild started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from chalicelib.adapters.read_model_catalog import ReadModel
from chalicelib.adapters.read_model_generations import GenerationStore
from chalicelib.adapters.read_models import ReadModelStore, WriteStats, _positions
from chalicelib.domain.events import utc_now
from chalicelib.service.projector import apply_history, settle_watermark
from projections.catalogue import decode_event
from projections.replay import ReplayResult, replay
from projections.timekeys import time_key

__all__ = ["GenerationRebuild", "catch_up", "rebuild_generation", "settle_replayed"]


class GenerationRebuild(msgspec.Struct, frozen=True):
    """What a rebuild did."""

    generation: int
    previous: int
    result: ReplayResult[Any]
    written: WriteStats
    caught_up: int


def settle_replayed(
    model: ReadModel[Any],
    states: dict[str, Any],
    positions: Mapping[str, Mapping[str, int]],
    history: Callable[[str], Iterable[bytes | str]],
    watermark: str,
) -> int:
    """Settle, in place, the replayed states that are due, up to what the ledger vouches for.

    For a model with ``settling`` (else nothing): a key's watermark is
    ``watermark`` (taken before the replay read anything), or the time of the
    first event of the key's own aggregate that the replay did not fold, if
    earlier. Returns how many keys the ledger was asked about.
    """
    settling = model.fold.settling
    if settling is None:
        return 0
    asked = 0
    for key, state in states.items():
        if not settling.due(state, watermark):
            continue
        asked += 1
        folded = positions.get(key, {}).get(key, 0)
        missed = [
            time_key(event.time)
            for event in map(decode_event, history(key))
            if event.aggregateversion > folded
        ]
        states[key] = settling.settle(state, min([watermark, *missed]))
    return asked


def catch_up(
    store: ReadModelStore,
    generations: GenerationStore,
    active: ReadModel[Any],
    target: ReadModel[Any],
    history: Callable[[str], Iterable[bytes | str]],
) -> int:
    """Bring ``target`` to at least ``active``'s position in every aggregate; events applied."""
    applied = 0
    for item in generations.items(active):
        key = str(item["pk"]).split("#", 1)[1]
        stored = store.load(target, key)
        have = stored.positions if stored else {}
        for aggregate, version in _positions(item).items():
            if have.get(aggregate, 0) < version:
                applied += apply_history(store, target, key, history(aggregate))
    # Aggregates whose positions live in items of their own (position_items).
    for position in generations.position_items(active):
        aggregate = str(position["pk"]).split("#", 1)[1]
        key = str(position["key"])
        if (store.applied(target, key, aggregate) or 0) < int(position["version"]):
            applied += apply_history(store, target, key, history(aggregate))
    return applied


def rebuild_generation(
    store: ReadModelStore,
    generations: GenerationStore,
    model: ReadModel[Any],
    chunks: Iterable[bytes | str],
    history: Callable[[str], Iterable[bytes | str]],
) -> GenerationRebuild:
    """Rebuild ``model`` into a new generation from ``chunks`` and switch readers to it.

    A failure abandons the new generation (it becomes previous, to drop) and
    leaves readers where they were.
    """
    previous = generations.of(model.name).active
    new = generations.start(model.name)
    target = model.at(new)
    # No event older than this was still uncommitted when the rebuild began.
    watermark = settle_watermark(utc_now())
    try:
        result = replay(chunks, target.fold.projection, strict=False)
        settle_replayed(target, result.states, result.positions, history, watermark)
        written = store.write_all(target, result.states, result.positions)
        caught = catch_up(store, generations, model.at(previous), target, history)
        generations.switch(model.name, new)
    except BaseException:
        generations.abandon(model.name)
        raise
    return GenerationRebuild(new, previous, result, written, caught)
