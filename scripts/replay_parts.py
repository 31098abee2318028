"""A replay folded in several processes, one part of the archive each, then merged.

Each process folds a disjoint set of archive buckets (chalicelib.adapters.archive_split)
with the same engine as a one-process replay, up to ``finish``; the parent
unites the parts (rows, partial states, counts) and finishes once, so the
result is the one-process result. Processes are forked: they share the code
already imported and open their own AWS clients (``open_source`` runs in the
child).
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.adapters.archive_split import ArchivePart, ObjectSource, part_chunks
from projections.replay import Projection, ReplayPart, ReplayResult, merge_parts, replay_part

__all__ = ["PartFailed", "replay_in_parts"]

S = TypeVar("S")


class PartFailed(RuntimeError):
    """A worker process failed its part."""


def _work(
    part: ArchivePart,
    open_source: Callable[[], ObjectSource],
    projection: Projection[Any],
    until: datetime | str | None,
    strict: bool,
    out: Any,
) -> None:
    try:
        source = open_source()
        chunks = part_chunks(part, source, progress=lambda size: out.put(("read", size)))
        out.put(("done", part.index, replay_part(chunks, projection, until=until, strict=strict)))
    except BaseException as exc:  # reported to the parent, which raises
        out.put(("failed", part.index, f"{type(exc).__name__}: {exc}"))


def replay_in_parts(
    parts: Sequence[ArchivePart],
    open_source: Callable[[], ObjectSource],
    projection: Projection[S],
    *,
    until: datetime | str | None = None,
    strict: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[ReplayResult[S], list[ReplayPart]]:
    """Fold each part in its own process; the merged result and each part's fold."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [
        context.Process(
            target=_work,
            args=(part, open_source, projection, until, strict, out),
            name=f"replay-part-{part.index}",
        )
        for part in parts
    ]
    # Objects the parent made before the fork are shared copy-on-write: frozen, the
    # children's garbage collections do not walk them (and so do not copy their pages).
    gc.freeze()
    try:
        for worker in workers:
            worker.start()
    finally:
        gc.unfreeze()
    done: dict[int, ReplayPart] = {}
    try:
        while len(done) < len(parts):
            try:
                message = out.get(timeout=1.0)
            except queue.Empty:
                dead = [w.name for w in workers if not w.is_alive() and w.exitcode]
                if dead:
                    raise PartFailed(f"worker(s) died: {', '.join(dead)}") from None
                continue
            if message[0] == "read":
                if progress is not None:
                    progress(message[1])
            elif message[0] == "done":
                done[message[1]] = message[2]
            else:
                raise PartFailed(f"part {message[1]}: {message[2]}")
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join()
    folded = [done[part.index] for part in parts]
    return merge_parts(projection, folded), folded
