"""Rebuild a read-model projection by replaying the event history.

    python scripts/replay.py --projection {<declared read model>,search}
        [--source archive|ledger|all] [--until ISO] [--table NAME] [--aws-port PORT]
        [--new-generation | --drop-previous] [--workers N]
    python scripts/replay.py --on aws --state-machine ARN --projection <declared read model>

The read models are those declared in resources.READ_MODELS (accounts,
loyalty, statements, ...).

Reads the S3 archive (and/or the ledger), folds it with the replay engine
(duplicates skipped, per-aggregate version order), writes the result to the
read-model table (items a live projector already moved past are left alone)
and prints a JSON summary as the last line. ``--projection search`` rebuilds
the search index into a new index ``<alias>-<timestamp>`` and swaps the alias
(SEARCH_BACKEND and its settings say which index). With ``--aws-port`` it runs
against that local stack (its endpoints and settings as the stack published
them); without, against whatever the environment's AWS settings say.

A read model declared with ``settling`` (loyalty) is written settled up to
a watermark (no event older than it was still uncommitted when the replay
began), so a heavy buyer's item stays small: the ledger is asked, for each
state due to be settled, whether an event of its key's own aggregate was
missed, which would hold the watermark back to it.

``--new-generation`` rebuilds a read model without downtime: into a new
generation that the live projector also keeps, caught up from the ledger,
then switched to at once (chalicelib.service.read_model_rebuild); the replaced
generation stays until ``--drop-previous`` deletes it.

``--workers N`` folds the archive in N processes, each a disjoint set of the
archive's hash buckets (objects of the earlier, unbucketed layout are read by
every worker and filtered by subject), and merges their parts: the same
result as one process (scripts/replay_parts.py).

``--on aws`` runs the replay in AWS instead: it starts an execution of the
replay state machine (Terraform output ``replay_state_machine_arn``; a
Distributed Map folds every archive bucket in a Lambda of its own, then the
parts are merged into a new generation and readers switched to it, see
chalicelib/service/replay_worker.py), prints the Map run's item counts while it
runs, then the same JSON summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import boto3
import orjson
from botocore.exceptions import NoCredentialsError
from msgspec.structs import replace
from replay_aws import ExecutionFailed, run_execution
from replay_parts import replay_in_parts
from tqdm import tqdm

from chalicelib import resources
from chalicelib.adapters.archive import ArchiveReader
from chalicelib.adapters.archive_split import split_archive
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_model_generations import GenerationStore
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.adapters.search.factory import make_search_index
from chalicelib.adapters.search.rebuild import index_chunks, rebuild_index
from chalicelib.domain.events import utc_now
from chalicelib.entrypoints.roots.search import open_event_personal_fields
from chalicelib.service.projector import settle_watermark
from chalicelib.service.read_model_rebuild import (
    GenerationRebuild,
    rebuild_generation,
    settle_replayed,
)
from chalicelib.settings import get_settings
from local_aws import stack_state
from local_aws.port_arguments import tcp_port
from local_aws.stack_state import DEFAULT_STATE_DIR, StackNotRunning
from local_aws.tool_errors import one_line_errors
from projections.replay import ReplayResult, replay
from projections.timekeys import time_key

LEDGER_CHUNK = 1000  # ledger events joined into one NDJSON chunk
# Every declared read model, and the search index.
PROJECTIONS = (*(spec.name for spec in resources.READ_MODELS), "search")


def _archive_chunks(
    reader: ArchiveReader, bar: tqdm, only: set[str] | None = None
) -> Iterator[bytes]:
    objects = [o for o in reader.objects() if only is None or o.key in only]
    bar.reset(total=sum(o.size for o in objects))
    for obj in objects:
        yield reader.read(obj.key)
        bar.update(obj.size)


def _ledger_chunks(ledger: EventLedger, bar: tqdm) -> Iterator[str]:
    events = ledger.scan_raw()
    while batch := list(islice(events, LEDGER_CHUNK)):
        bar.update(len(batch))
        yield "\n".join(batch)


def _replay_search(args: argparse.Namespace, session: boto3.session.Session) -> int:
    """Rebuild the search index into a new index, swap the alias, then catch up.

    Events the live delivery indexed into the old index while the rebuild ran
    are in archive objects written meanwhile: a second pass over the objects
    not read yet indexes them through the alias (upserts by id, so repeats are harmless).
    """
    settings = get_settings()
    index = make_search_index(settings)
    reader = ArchiveReader(session.client("s3"), settings.archive_bucket)
    seen = {o.key for o in reader.objects()} if args.source != "ledger" else set()
    started = time.perf_counter()
    with tqdm(desc="replay search", unit="B", unit_scale=True, file=sys.stderr) as bar:
        sources: list[Iterable[bytes | str]] = []
        if args.source in ("archive", "all"):
            sources.append(_archive_chunks(reader, bar, only=seen))
        if args.source in ("ledger", "all"):
            ledger = EventLedger(session.resource("dynamodb").Table(settings.table("ledger")))
            sources.append(_ledger_chunks(ledger, bar))
        # The history holds personal fields sealed; the index holds them open (as the
        # Firehose transformation delivers them live), or redacted for erased people.
        result = rebuild_index(
            index,
            (c for source in sources for c in source),
            transform=open_event_personal_fields,
        )
        if args.source != "ledger":
            fresh = [o.key for o in reader.objects() if o.key not in seen]
            index_chunks(
                index,
                (reader.read(k) for k in fresh),
                transform=open_event_personal_fields,
                stats=result.stats,
            )
    seconds = time.perf_counter() - started
    stats = result.stats
    summary = {
        "projection": "search",
        "source": args.source,
        "alias": result.alias,
        "index": result.index,
        "previous_indices": result.previous,
        "events_indexed": stats.indexed,
        "invalid": stats.invalid,
        "seconds": round(seconds, 3),
        "events_per_s": round(stats.indexed / seconds) if seconds > 0 else 0,
    }
    print(orjson.dumps(summary).decode())
    return 0


def _just_after(time: str) -> str:
    return time_key(datetime.fromisoformat(time.replace("Z", "+00:00")) + timedelta(microseconds=1))


def _ensure_read_model_table(dynamodb: Any, name: str) -> None:
    """Create ``name`` shaped like the read-model table if it does not exist (a fresh rebuild)."""
    client = dynamodb.meta.client
    try:
        client.describe_table(TableName=name)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        SSESpecification={"Enabled": True},
    )
    client.get_waiter("table_exists").wait(TableName=name)


def _drop_previous(name: str, settings: Any, generations: GenerationStore) -> int:
    """Delete the items of the generations a rebuild replaced, then forget them."""
    model = read_model(name, settings)
    previous = generations.of(name).previous
    deleted = sum(generations.drop(model.at(generation)) for generation in previous)
    generations.forget_previous(name)
    summary = {
        "projection": name,
        "dropped_generations": list(previous),
        "items_deleted": deleted,
        "active_generation": generations.of(name).active,
    }
    print(orjson.dumps(summary).decode())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild a projection from the event history.")
    parser.add_argument("--projection", choices=PROJECTIONS, required=True)
    parser.add_argument("--source", choices=("archive", "ledger", "all"), default="archive")
    parser.add_argument("--until", help="ISO-8601 time: state as of then")
    parser.add_argument("--table", help="read-model table to write (default: READ_MODELS_TABLE)")
    parser.add_argument("--early-adopters", type=int, help="loyalty: size of the early cohort")
    parser.add_argument("--dry-run", action="store_true", help="fold, but write nothing")
    parser.add_argument(
        "--new-generation",
        action="store_true",
        help="rebuild into a new generation, catch it up, then switch readers to it",
    )
    parser.add_argument(
        "--drop-previous",
        action="store_true",
        help="delete the generations a rebuild replaced (no replay)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="fold the archive's buckets in this many processes (--source archive)",
    )
    parser.add_argument(
        "--on",
        choices=("local", "aws"),
        default="local",
        help="aws: run the replay state machine (a Distributed Map over the archive's buckets)",
    )
    parser.add_argument(
        "--state-machine",
        help="--on aws: the replay state machine ARN (Terraform output replay_state_machine_arn)",
    )
    parser.add_argument(
        "--aws-port",
        type=tcp_port,
        help="replay against the local stack on this AWS port (default: the environment's AWS)",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the local stack's state folder"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and (args.source != "archive" or args.new_generation):
        parser.error("--workers splits the archive: --source archive, without --new-generation")
    if args.on == "aws":
        _check_aws_arguments(args, parser)
    if args.aws_port is not None:
        try:
            stack_state.use(args.aws_port, args.state_dir)
        except StackNotRunning as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        until = time_key(args.until) if args.until else None
    except ValueError:
        parser.error(f"--until: not an ISO-8601 time: {args.until!r}")
    # No credentials, or a stack that stopped answering: one line, not a traceback.
    with one_line_errors(args.aws_port):
        return _replay(args, parser, until)


def _replay(args: argparse.Namespace, parser: argparse.ArgumentParser, until: str | None) -> int:
    """Fold the history into the projection named by ``args``; its JSON summary printed."""
    settings = get_settings()
    session = boto3.session.Session(region_name=settings.region)
    if session.get_credentials() is None:
        raise NoCredentialsError()  # now, not from the first read under a progress bar
    if args.on == "aws":
        return _replay_on_aws(args, session)
    if args.projection == "search":
        if args.until:
            parser.error("--until does not apply to --projection search")
        return _replay_search(args, session)
    dynamodb = session.resource("dynamodb")
    if args.early_adopters is not None:
        settings = replace(settings, early_adopter_count=args.early_adopters)
    live_table = dynamodb.Table(settings.table("read_models"))
    generations = GenerationStore(live_table)
    if args.new_generation and (args.until or args.table or args.dry_run):
        parser.error("--new-generation rebuilds the live read model: no --until/--table/--dry-run")
    if args.drop_previous:
        return _drop_previous(args.projection, settings, generations)
    # Readers use the active generation: an in-place replay writes there.
    model = read_model(args.projection, settings)
    model = model.at(generations.of(model.name).active)
    rebuilt: GenerationRebuild | None = None
    # No event older than this was still uncommitted when the replay began.
    watermark = settle_watermark(utc_now())
    if until is not None:
        # As of `until`, every later event is cut: what came before it is all settled.
        watermark = min(watermark, _just_after(until))

    started = time.perf_counter()
    unit, scale = ("B", True) if args.source == "archive" else ("events", False)
    desc = f"replay {args.projection}"
    with tqdm(desc=desc, unit=unit, unit_scale=scale, file=sys.stderr) as bar:
        sources: list[Iterable[bytes | str]] = []
        if args.source in ("archive", "all"):
            reader = ArchiveReader(session.client("s3"), settings.archive_bucket)
            sources.append(_archive_chunks(reader, bar))
        if args.source in ("ledger", "all"):
            ledger = EventLedger(dynamodb.Table(settings.table("ledger")))
            sources.append(_ledger_chunks(ledger, bar))
        chunks = (c for source in sources for c in source)
        if args.new_generation:
            history = EventLedger(dynamodb.Table(settings.table("ledger"))).raw_events
            rebuilt = rebuild_generation(
                ReadModelStore(live_table), generations, model, chunks, history
            )
            result = rebuilt.result
        elif args.workers > 1:
            result = _replay_workers(args.workers, settings, model.fold.projection, until, bar)
        else:
            # The archive holds whatever reached the stream, poison records included:
            # those lines are counted and skipped, as the stream consumers skipped them.
            result = replay(chunks, model.fold.projection, until=until, strict=False)
            ledger = EventLedger(dynamodb.Table(settings.table("ledger")))
            settle_replayed(model, result.states, result.positions, ledger.raw_events, watermark)

    stats = result.stats
    written = skipped = 0
    table_name = args.table or settings.table("read_models")
    if rebuilt is not None:
        written, skipped = rebuilt.written.written, rebuilt.written.skipped_newer
    elif not args.dry_run:
        if args.table:
            _ensure_read_model_table(dynamodb, table_name)
        store = ReadModelStore(dynamodb.Table(table_name))
        outcome = store.write_all(model, result.states, result.positions)
        written, skipped = outcome.written, outcome.skipped_newer
    seconds = time.perf_counter() - started
    if stats.unresolved_gaps:
        print(
            f"warning: {stats.unresolved_gaps} events wait for missing predecessors "
            f"in {len(stats.gap_aggregates)} aggregates",
            file=sys.stderr,
        )
    summary = {
        "projection": args.projection,
        "source": args.source,
        "workers": args.workers,
        "until": until,
        "table": None if args.dry_run else table_name,
        "events_read": stats.events_read,
        "duplicates_skipped": stats.duplicates_skipped,
        "invalid_lines": stats.invalid_lines,
        "after_until": stats.after_until,
        "unresolved_gaps": stats.unresolved_gaps,
        "aggregates": stats.aggregates,
        "written": written,
        "skipped_newer": skipped,
        "generation": model.generation if rebuilt is None else rebuilt.generation,
        "previous_generation": None if rebuilt is None else rebuilt.previous,
        "caught_up_events": None if rebuilt is None else rebuilt.caught_up,
        "seconds": round(seconds, 3),
        "events_per_s": round(stats.events_read / seconds) if seconds > 0 else 0,
    }
    print(orjson.dumps(summary).decode())
    return 0


def _check_aws_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--on aws rebuilds a declared read model from the archive into a new generation."""
    if args.state_machine is None:
        parser.error("--on aws needs --state-machine (Terraform output replay_state_machine_arn)")
    if args.projection == "search":
        parser.error("--on aws replays a read model: the search index is rebuilt locally")
    local_only = {
        "--until": args.until,
        "--table": args.table,
        "--dry-run": args.dry_run,
        "--new-generation": args.new_generation,
        "--drop-previous": args.drop_previous,
        "--early-adopters": args.early_adopters is not None,
        "--workers": args.workers != 1,
        "--source": args.source != "archive",
    }
    given = [name for name, value in local_only.items() if value]
    if given:
        parser.error(
            f"--on aws always rebuilds a new generation from the archive: not {', '.join(given)}"
        )


def _replay_on_aws(args: argparse.Namespace, session: boto3.session.Session) -> int:
    """Run the replay state machine for the projection; its progress, then its summary."""

    def report(status: str, counts: dict[str, int] | None) -> None:
        if counts is None:
            print(f"replay {args.projection}: {status}", file=sys.stderr, flush=True)
            return
        print(
            f"replay {args.projection}: {status}, buckets {counts['succeeded']}/"
            f"{counts['total']} folded, {counts['running']} running, {counts['pending']} "
            f"pending, {counts['failed'] + counts['timedOut'] + counts['aborted']} failed",
            file=sys.stderr,
            flush=True,
        )

    try:
        summary = run_execution(
            session.client("stepfunctions"), args.state_machine, args.projection, report
        )
    except ExecutionFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(summary).decode())
    return 0


def _replay_workers(
    workers: int, settings: Any, projection: Any, until: str | None, bar: tqdm
) -> ReplayResult[Any]:
    """Fold the archive in ``workers`` processes, one part of its buckets each."""

    def open_reader() -> ArchiveReader:
        # In the worker process: its own session and connections.
        client = boto3.session.Session(region_name=settings.region).client("s3")
        return ArchiveReader(client, settings.archive_bucket)

    parts = split_archive(open_reader().objects(), workers)
    bar.reset(total=sum(part.size for part in parts))
    result, _ = replay_in_parts(
        parts, open_reader, projection, until=until, strict=False, progress=bar.update
    )
    return result


if __name__ == "__main__":
    raise SystemExit(main())
