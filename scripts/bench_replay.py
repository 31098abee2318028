"""Benchmark: replaying a synthetic archive versus merely parsing it.

Writes a synthetic archive (NDJSON objects in the Firehose layout
``events/buckets=64/bucket=NN/year=YYYY/month=MM/day=DD/``) into a temporary
directory, then in the same run measures (a) ``orjson.loads`` of every line,
(b) a full replay into the account projection, with ``--workers N`` (d) the
same replay split into N processes by bucket and merged (scripts/replay_parts.py),
next to (e) the bare parse in N processes, and (c) the same events in a peer,
pyeventsourcing (bench_peer.py): reconstructing every account aggregate and
running a balances projection. The last line of output is JSON:
``{"events","parse_events_per_s","replay_events_per_s","ratio_to_parse","written_by",
"peer_events","peer_reconstruct_events_per_s","peer_project_events_per_s",
"peer_events_per_s","ratio_to_peer"}``; ``peer_events_per_s`` is the faster
of the peer's two passes and ``ratio_to_peer`` is ours / that, both counting
distinct events (ours would gain from the re-sent ones it skips).
``--written-by`` picks whose writer's attribute order the lines have: today's
(the catalogue's encoder, ``type`` first; the default, what the archive gets
from now on) or the writer's before the catalogue (``type`` fourth).
(a) and (b) count CPU seconds of this process (``time.process_time``), best of
``--rounds``: on a shared machine a wall clock also counts the time other
processes hold the core, which moved the ratio by +-0.15 between runs.
With ``--workers N`` it adds ``"workers","replay_workers_events_per_s",
"ratio_workers_to_one"`` (N processes / one), ``"parse_workers_events_per_s"``
(the bare parse in N processes: what the machine allows right now),
``"workers_ratio_to_parse"`` (N-process replay / N-process parse) and
``"load_average"`` (1 min, at the start: the machine is shared).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any
from uuid import UUID

import bench_peer
import orjson
from eventsourcing.application import Application
from replay_parts import replay_in_parts

from chalicelib.adapters.archive import ArchiveObject
from chalicelib.adapters.archive_split import ArchivePart, split_archive
from chalicelib.domain.events import ACCOUNT_DEPOSITED, ACCOUNT_OPENED, ACCOUNT_WITHDRAWN
from projections.accounts import ACCOUNTS
from projections.archive_buckets import bucket_label, bucket_of
from projections.catalogue import decode_cloud_event
from projections.replay import replay

EVENTS_PER_OBJECT = 10_000  # about 4 MB
BUCKETS = 64  # resources.ARCHIVE_DELIVERY.bucket_count
EVENTS_PER_DAY = 100_000
DUPLICATE_RATE = 0.005  # at-least-once delivery re-sends a few records


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# Who wrote the archive: today's writer (the catalogue's encoder, ``type`` first), or the
# writer before the catalogue (2026-12-01 and earlier: ``specversion, id, source, type``).
WRITERS = ("today", "before-catalogue")


def _as_written_today(event: dict[str, Any]) -> bytes:
    return decode_cloud_event(event).to_json()


def synthetic_events(
    count: int, accounts: int, seed: int, written_by: str = "today"
) -> Iterator[bytes]:
    """``count`` account events over ``accounts`` accounts, in time order, as JSON lines.

    Each line as ``written_by`` wrote it (``WRITERS``): the same events, the
    attributes in that writer's order.
    """
    encode = _as_written_today if written_by == "today" else orjson.dumps
    rng = random.Random(seed)
    ids = [_uuid(rng) for _ in range(accounts)]
    versions = [0] * accounts
    balances = [0] * accounts
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=1) / EVENTS_PER_DAY
    for n in range(count):
        # The first `accounts` events open every account; the rest touch random ones.
        index = n if n < accounts else rng.randrange(accounts)
        versions[index] += 1
        version = versions[index]
        account_id = ids[index]
        if version == 1:
            kind, data = (
                ACCOUNT_OPENED,
                {
                    "account_id": account_id,
                    "owner_id": _uuid(rng),
                    "currency": "EUR",
                },
            )
        else:
            cents = rng.randrange(1, 50_000)
            if balances[index] >= cents and rng.random() < 0.4:
                kind = ACCOUNT_WITHDRAWN
                balances[index] -= cents
            else:
                kind = ACCOUNT_DEPOSITED
                balances[index] += cents
            data = {"account_id": account_id, "amount": f"{cents // 100}.{cents % 100:02d}"}
        yield encode(
            {
                "specversion": "1.0",
                "id": _uuid(rng),
                "source": "/accounts",
                "type": kind,
                "time": (start + step * n).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "subject": account_id,
                "datacontenttype": "application/json",
                "aggregateversion": version,
                "data": data,
            }
        )


def write_archive(
    root: Path, count: int, accounts: int, seed: int, written_by: str = "today"
) -> list[Path]:
    """Write the synthetic archive under ``root`` (bucketed); the object paths in key order."""
    rng = random.Random(seed + 1)
    paths: list[Path] = []
    batches: dict[int, list[bytes]] = {}
    day = datetime(2026, 1, 1, tzinfo=UTC)

    def flush(bucket: int, n: int) -> None:
        when = day + timedelta(days=n // EVENTS_PER_DAY)
        label = bucket_label(bucket, BUCKETS)
        folder = root / (
            f"events/buckets={BUCKETS}/bucket={label}/year={when:%Y}/month={when:%m}/day={when:%d}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"evp-archive-1-{when:%Y-%m-%d-%H-%M-%S}-{len(paths):06d}"
        path.write_bytes(b"\n".join(batches[bucket]) + b"\n")
        paths.append(path)
        batches[bucket] = []

    subject_bucket: dict[bytes, int] = {}
    for n, line in enumerate(synthetic_events(count, accounts, seed, written_by)):
        subject = orjson.loads(line)["subject"]
        bucket = subject_bucket.setdefault(subject, bucket_of(subject, BUCKETS))
        batch = batches.setdefault(bucket, [])
        batch.append(line)
        if rng.random() < DUPLICATE_RATE:
            batch.append(line)
        if len(batch) >= EVENTS_PER_OBJECT // 4:
            flush(bucket, n)
    for bucket, batch in list(batches.items()):
        if batch:
            flush(bucket, count - 1)
    return sorted(paths)


class FolderSource:
    """Archive objects read from a folder (keys relative to it)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


def measure_workers(
    root: Path, paths: Sequence[Path], workers: int
) -> tuple[int, float, list[ArchivePart]]:
    """(d) The replay split by bucket into ``workers`` processes, merged."""
    objects = [ArchiveObject(str(p.relative_to(root)), p.stat().st_size) for p in paths]
    parts = split_archive(objects, workers)
    source = FolderSource(root)
    started = time.perf_counter()
    result, _ = replay_in_parts(parts, lambda: source, ACCOUNTS)
    elapsed = time.perf_counter() - started
    if result.stats.unresolved_gaps:
        raise SystemExit(f"replay left {result.stats.unresolved_gaps} events unapplied")
    return result.stats.events_read, elapsed, parts


def _parse_part(root: Path, keys: list[str], out: Any) -> None:
    loads = orjson.loads
    count = 0
    for key in keys:
        for line in (root / key).read_bytes().splitlines():
            if line:
                loads(line)
                count += 1
    out.put(count)


def measure_parse_workers(root: Path, parts: Sequence[ArchivePart]) -> tuple[int, float]:
    """(e) The bare parse of the same parts, in as many processes."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    started = time.perf_counter()
    processes = [
        context.Process(target=_parse_part, args=(root, [o.key for o in part.owned], out))
        for part in parts
    ]
    for process in processes:
        process.start()
    count = sum(out.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return count, elapsed


def archive_objects(paths: Sequence[Path]) -> Iterator[bytes]:
    """Every object's bytes, as the archive reader yields them."""
    return (path.read_bytes() for path in paths)


def measure_parse(paths: Sequence[Path]) -> tuple[int, float]:
    """(a) Read every object and orjson.loads each of its lines (CPU seconds)."""
    loads = orjson.loads
    started = time.process_time()
    count = 0
    for line in chain.from_iterable(body.splitlines() for body in archive_objects(paths)):
        if line:
            loads(line)
            count += 1
    return count, time.process_time() - started


def measure_replay(paths: Sequence[Path]) -> tuple[int, float, int]:
    """(b) Read every object and replay it into the account projection (CPU seconds)."""
    started = time.process_time()
    result = replay(archive_objects(paths), ACCOUNTS)
    elapsed = time.process_time() - started
    if result.stats.unresolved_gaps:
        raise SystemExit(f"replay left {result.stats.unresolved_gaps} events unapplied")
    return result.stats.events_read, elapsed, result.stats.aggregates


def load_peer(paths: Sequence[Path]) -> tuple[Application[UUID], int, dict[str, int]]:
    """The peer application holding the archive's events, their count, the expected balances."""
    expected = {
        key: account.balance_cents
        for key, account in replay(archive_objects(paths), ACCOUNTS).states.items()
    }
    started = time.perf_counter()
    app, events = bench_peer.load(archive_objects(paths))
    print(
        f"peer: {events} events saved through commands in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )
    return app, events, expected


def peer_figures(runs: Sequence[bench_peer.PeerFigures], replay_best: float) -> dict[str, Any]:
    """(c) The peer's best of each pass, and ours / the peer's faster one."""
    events = runs[0].events
    reconstruct = min(run.reconstruct_seconds for run in runs)
    project = min(run.project_seconds for run in runs)
    print(
        f"peer: reconstructed every account from {events} events in {reconstruct:.2f}s; "
        f"projected them in {project:.2f}s",
        file=sys.stderr,
    )
    peer_rate = events / min(reconstruct, project)
    return {
        "peer_events": events,
        "peer_reconstruct_events_per_s": round(events / reconstruct),
        "peer_project_events_per_s": round(events / project),
        "peer_events_per_s": round(peer_rate),
        "ratio_to_peer": round(events / replay_best / peer_rate, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each measurement")
    parser.add_argument("--dir", type=Path, help="write the archive here instead of a temp dir")
    parser.add_argument("--no-peer", action="store_true", help="skip the pyeventsourcing peer")
    parser.add_argument(
        "--workers", type=int, default=1, help="also replay in N processes, split by bucket"
    )
    parser.add_argument(
        "--written-by",
        choices=WRITERS,
        default="today",
        help="whose writer's attribute order the archive has (default: today's)",
    )
    args = parser.parse_args(argv)
    if args.events < args.accounts:
        parser.error("--events must be at least --accounts")

    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        root = args.dir or Path(tmp)
        started = time.perf_counter()
        paths = write_archive(root, args.events, args.accounts, args.seed, args.written_by)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"archive: {args.events} events ({size / 1e6:.0f} MB, {len(paths)} objects) "
            f"written in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        # Warm the page cache so both measurements read from memory alike.
        for path in paths:
            path.read_bytes()
        gc.collect()
        load_average = os.getloadavg()[0]
        parse_best = replay_best = workers_best = parse_workers_best = float("inf")
        lines = events = aggregates = 0
        for _ in range(max(1, args.rounds)):
            lines, seconds = measure_parse(paths)
            parse_best = min(parse_best, seconds)
            events, seconds, aggregates = measure_replay(paths)
            replay_best = min(replay_best, seconds)
            # Side by side in each round: the same replay and parse in N processes.
            if args.workers > 1:
                split_events, seconds, parts = measure_workers(root, paths, args.workers)
                if split_events != events:
                    raise SystemExit(f"{args.workers} workers read {split_events}, one {events}")
                workers_best = min(workers_best, seconds)
                _, seconds = measure_parse_workers(root, parts)
                parse_workers_best = min(parse_workers_best, seconds)
        print(
            f"parse: {lines} lines in {parse_best:.2f}s; replay: {events} lines "
            f"into {aggregates} accounts in {replay_best:.2f}s"
            + (
                f"; {args.workers} workers: {workers_best:.2f}s "
                f"(their bare parse {parse_workers_best:.2f}s)"
                if args.workers > 1
                else ""
            )
            + f"; load average {load_average:.2f}",
            file=sys.stderr,
        )
        # The peer goes last: its million stored events in memory slow any
        # allocation-heavy code run next to them (ours by half, measured).
        peer_runs: list[bench_peer.PeerFigures] = []
        if not args.no_peer:
            peer_app = load_peer(paths)
            gc.collect()
            gc.freeze()  # its stored events are at rest: no collection walks them
            peer_runs = [bench_peer.measure(*peer_app) for _ in range(max(1, args.rounds))]
            gc.unfreeze()
        peer = peer_figures(peer_runs, replay_best) if peer_runs else {}
    parse_rate = lines / parse_best
    replay_rate = events / replay_best
    split: dict[str, Any] = {}
    if args.workers > 1:
        workers_rate = events / workers_best
        parse_workers_rate = lines / parse_workers_best
        split = {
            "workers": args.workers,
            "replay_workers_events_per_s": round(workers_rate),
            "parse_workers_events_per_s": round(parse_workers_rate),
            "workers_ratio_to_parse": round(workers_rate / parse_workers_rate, 3),
            "load_average": round(load_average, 2),
            "ratio_workers_to_one": round(workers_rate / replay_rate, 3),
        }
    print(
        orjson.dumps(
            {
                "events": lines,
                "parse_events_per_s": round(parse_rate),
                "replay_events_per_s": round(replay_rate),
                "ratio_to_parse": round(replay_rate / parse_rate, 3),
                "written_by": args.written_by,
                **peer,
                **split,
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
