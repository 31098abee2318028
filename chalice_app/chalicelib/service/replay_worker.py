"""The steps of a replay in AWS, run by the replay_worker Lambda for the state machine.

infra/modules/replay's Step Functions state machine calls one step per
state (resources.REPLAY):

- ``open``: opens a new generation of the read model (the live projector
  keeps it current from then on) and lists the archive buckets to fold;
- ``fold``: one Distributed Map child. Folds one archive bucket with the
  same engine and the same part as ``replay.py --workers`` (archive_split's
  part_chunks, then replay_part): the bucket's objects whole, and the
  objects of the earlier layout filtered to the bucket's aggregates. Its part
  of the new generation is stored under the parts prefix of the archive bucket;
- ``finish``: merges every bucket's part (a missing one fails the run: a
  tolerated child failure never switches readers to a partial model),
  writes the new generation, catches it up from the ledger, switches readers
  to it and returns the same summary as a local replay;
- ``abandon``: closes a run that failed; readers stay where they were.

A part is pickled: the fold's partial states are the projection's own Python
objects. Only this function's role writes and reads the parts prefix (KMS-
encrypted, infra/modules/iam), so no one else's bytes are ever unpickled.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import orjson

from chalicelib import resources
from chalicelib.adapters.archive import ARCHIVE_PREFIX, ArchiveObject, ArchiveReader
from chalicelib.adapters.archive_split import ArchivePart, part_chunks
from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_model_generations import GenerationStore
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.domain.events import utc_now
from chalicelib.service.projector import settle_watermark
from chalicelib.service.read_model_rebuild import catch_up, settle_replayed
from projections.archive_buckets import bucket_label
from projections.replay import ReplayPart, merge_parts, replay_part

__all__ = [
    "MissingParts",
    "ReplayContext",
    "abandon_run",
    "bucket_part",
    "finish_run",
    "fold_bucket",
    "open_run",
    "part_key",
    "run_step",
]

STEPS = ("open", "fold", "finish", "abandon")


class MissingParts(RuntimeError):
    """Some buckets' parts are missing: their children failed (or were tolerated to)."""


class ReplayContext(msgspec.Struct, frozen=True):
    """What the steps reach: the archive (an S3 client and bucket), the tables, settings."""

    s3: Any
    archive_bucket: str
    read_models: ReadModelStore
    generations: GenerationStore
    history: Callable[[str], Iterable[bytes | str]]
    settings: Any


def part_key(run: str, bucket: int) -> str:
    """Where the part of ``bucket`` of the run ``run`` is stored in the archive bucket."""
    return f"{resources.REPLAY.parts_prefix}{run}/part-{bucket:05d}.pickle"


def _summary_key(run: str) -> str:
    return f"{resources.REPLAY.parts_prefix}{run}/summary.json"


def _bucket_prefix(count: int, bucket: int) -> str:
    return f"{ARCHIVE_PREFIX}buckets={count}/bucket={bucket_label(bucket, count)}/"


def _shared_objects(s3: Any, archive_bucket: str, count: int) -> list[ArchiveObject]:
    """Objects not bucketed by ``count`` (the earlier layout, or another count): read by all."""
    own = f"{ARCHIVE_PREFIX}buckets={count}/"
    prefixes: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=archive_bucket, Prefix=ARCHIVE_PREFIX, Delimiter="/"):
        prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) if p["Prefix"] != own)
    found: list[ArchiveObject] = []
    for prefix in prefixes:
        found.extend(ArchiveReader(s3, archive_bucket, prefix).objects())
    return found


def bucket_part(s3: Any, archive_bucket: str, count: int, bucket: int) -> ArchivePart:
    """The part of a split replay that folds ``bucket`` of ``count``, as listed in S3.

    The same part ``split_archive`` makes with one bucket per part: the
    bucket's objects whole, every unbucketed object filtered by subject.
    """
    owned = ArchiveReader(s3, archive_bucket, _bucket_prefix(count, bucket)).objects()
    return ArchivePart(
        index=bucket,
        count=count,
        buckets=frozenset({bucket}),
        owned=tuple(owned),
        shared=tuple(_shared_objects(s3, archive_bucket, count)),
    )


def open_run(context: ReplayContext, projection: str, count: int) -> dict[str, Any]:
    """Open a new generation of ``projection``; the Map's items (one per bucket).

    ConcurrencyConflict if a rebuild of it is already open.
    """
    model = read_model(projection, context.settings)
    previous = context.generations.of(model.name).active
    generation = context.generations.start(model.name)
    return {
        "generation": generation,
        "previous": previous,
        # No event older than this was still uncommitted when the replay began.
        "watermark": settle_watermark(utc_now()),
        "started": time.time(),
        "buckets": list(range(count)),
    }


def fold_bucket(
    context: ReplayContext, projection: str, run: str, count: int, bucket: int
) -> dict[str, Any]:
    """Fold one bucket into its part of the new generation and store the part."""
    if not 0 <= bucket < count:
        raise ValueError(f"bucket {bucket} is not one of 0..{count - 1}")
    model = read_model(projection, context.settings)
    part = bucket_part(context.s3, context.archive_bucket, count, bucket)
    reader = ArchiveReader(context.s3, context.archive_bucket)
    # The archive holds whatever reached the stream: poison lines are counted, not fatal.
    folded = replay_part(part_chunks(part, reader), model.fold.projection, strict=False)
    context.s3.put_object(
        Bucket=context.archive_bucket,
        Key=part_key(run, bucket),
        Body=pickle.dumps(folded, protocol=pickle.HIGHEST_PROTOCOL),
    )
    return {
        "bucket": bucket,
        "objects": len(part.owned) + len(part.shared),
        "bytes": part.size,
        "events_read": folded.stats.events_read,
    }


def _load_parts(context: ReplayContext, run: str, count: int) -> list[ReplayPart]:
    parts: list[ReplayPart] = []
    missing: list[int] = []
    s3 = context.s3
    for bucket in range(count):
        try:
            body = s3.get_object(Bucket=context.archive_bucket, Key=part_key(run, bucket))
        except s3.exceptions.NoSuchKey:
            missing.append(bucket)
            continue
        # Written by fold_bucket under this run's prefix, which only this role may write.
        parts.append(pickle.loads(body["Body"].read()))
    if missing:
        raise MissingParts(f"{len(missing)} of {count} buckets were not folded: {missing[:10]}")
    return parts


def _delete_parts(context: ReplayContext, run: str, count: int) -> None:
    keys = [{"Key": part_key(run, bucket)} for bucket in range(count)]
    for start in range(0, len(keys), 1000):
        context.s3.delete_objects(
            Bucket=context.archive_bucket, Delete={"Objects": keys[start : start + 1000]}
        )


def finish_run(
    context: ReplayContext,
    projection: str,
    run: str,
    count: int,
    opened: Mapping[str, Any],
) -> dict[str, Any]:
    """Merge the parts into the new generation, catch it up, switch readers; the summary."""
    model = read_model(projection, context.settings)
    generation, previous = int(opened["generation"]), int(opened["previous"])
    target = model.at(generation)
    result = merge_parts(model.fold.projection, _load_parts(context, run, count))
    settle_replayed(
        target, result.states, result.positions, context.history, str(opened["watermark"])
    )
    written = context.read_models.write_all(target, result.states, result.positions)
    caught = catch_up(
        context.read_models, context.generations, model.at(previous), target, context.history
    )
    context.generations.switch(model.name, generation)
    stats = result.stats
    seconds = max(time.time() - float(opened["started"]), 0.0)
    summary = {
        "projection": projection,
        "source": "archive",
        "workers": count,
        "until": None,
        "table": context.settings.table("read_models"),
        "events_read": stats.events_read,
        "duplicates_skipped": stats.duplicates_skipped,
        "invalid_lines": stats.invalid_lines,
        "after_until": stats.after_until,
        "unresolved_gaps": stats.unresolved_gaps,
        "aggregates": stats.aggregates,
        "written": written.written,
        "skipped_newer": written.skipped_newer,
        "generation": generation,
        "previous_generation": previous,
        "caught_up_events": caught,
        "seconds": round(seconds, 3),
        "events_per_s": round(stats.events_read / seconds) if seconds > 0 else 0,
    }
    context.s3.put_object(
        Bucket=context.archive_bucket, Key=_summary_key(run), Body=orjson.dumps(summary)
    )
    _delete_parts(context, run, count)
    return summary


def abandon_run(context: ReplayContext, projection: str, run: str, count: int) -> dict[str, Any]:
    """Close a failed run: its generation becomes previous (to drop), readers stay."""
    model = read_model(projection, context.settings)
    abandoned = context.generations.abandon(model.name)
    _delete_parts(context, run, count)
    return {"projection": projection, "abandoned_generation": abandoned}


def run_step(context: ReplayContext, step: Mapping[str, Any]) -> dict[str, Any]:
    """Run the state machine's step ``step["step"]`` with its parameters."""
    name = step.get("step")
    if name not in STEPS:
        raise ValueError(f"unknown replay step {name!r}: one of {', '.join(STEPS)}")
    projection, count = str(step["projection"]), int(step["count"])
    if name == "open":
        return open_run(context, projection, count)
    run = str(step["run"])
    if name == "fold":
        return fold_bucket(context, projection, run, count, int(step["bucket"]))
    if name == "finish":
        return finish_run(context, projection, run, count, step["opened"])
    return abandon_run(context, projection, run, count)
