"""Operate the platform: failure queues, redrive, and where one event went.

``python scripts/ops.py [--aws-port P] {dlq,redrive QUEUE,trace EVENT_ID} [--json]``

With ``--aws-port`` it works on the local stack serving AWS on that port
(its endpoints and settings come from what the stack published); without
it, on AWS with the stage's settings from the environment (NAME_PREFIX,
AWS_REGION, ... as the Lambdas have them). ``--json`` (before or after the
subcommand) makes the last line of output one JSON object (``{"error": ...}``
when it fails). Exit 0 done, 1 nothing found (a trace of an id the ledger
does not hold), 2 bad input or an unreachable stack / AWS (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.adapters import aws
from chalicelib.settings import get_settings
from local_aws.port_arguments import tcp_port
from local_aws.stack_state import StackNotRunning
from local_aws.tool_errors import explain
from operations import queues, redrive, trace
from operations.environment import add_target_arguments, use_local_stack

INDEX_STATES = {True: "indexed", False: "not indexed", None: "unknown"}


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())


def cmd_dlq(args: argparse.Namespace) -> dict[str, Any]:
    sqs = aws.client("sqs")
    statuses = [queues.inspect(sqs, q) for q in queues.failure_queues(get_settings())]
    if not args.json:
        rows = [["QUEUE", "KIND", "DEPTH", "IN FLIGHT", "OLDEST (s)", "SAMPLE REASON"]]
        rows += [
            [
                s.name,
                s.kind,
                str(s.depth),
                str(s.in_flight),
                "-" if s.oldest_age_seconds is None else f"{s.oldest_age_seconds:.0f}",
                s.sample_reason or "-",
            ]
            for s in statuses
        ]
        _print_table(rows)
    return {"queues": [s.to_dict() for s in statuses], "total": sum(s.depth for s in statuses)}


def cmd_redrive(args: argparse.Namespace) -> dict[str, Any]:
    result = redrive.redrive(args.queue, local=args.aws_port is not None)
    queue = result["queue"]
    if not args.json:
        if result.get("method") == "reinvoke":
            # Nothing goes back on the stream: the function that failed is invoked again
            # on the records it failed on, read back from the stream.
            print(
                f"re-invoked {result['moved']} failed batch(es) ({result['records']} record(s) "
                f"read back from {result['source']}) and removed them from {queue}"
            )
        else:
            print(f"moved {result['moved']} message(s) from {queue} back to {result['source']}")
        if result.get("failed"):
            print(f"{result['failed']} failed again and stay in {queue}")
    return result


def cmd_trace(args: argparse.Namespace) -> dict[str, Any]:
    settings = get_settings()
    result = trace.trace(
        args.event_id,
        subject=args.subject,
        ledger=aws.table("ledger"),
        kinesis=aws.client("kinesis"),
        s3=aws.client("s3"),
        stream=settings.event_stream,
        bucket=settings.archive_bucket,
    )
    if not args.json:
        if result["ledger"] is None:
            print(f"event {args.event_id}: not in the ledger")
        else:
            print(
                f"event {result['event_id']}: {result['type']} "
                f"{result['subject']} v{result['aggregateversion']} at {result['time']}"
            )
            stream = result["stream"]
            rows = [
                ["ledger", f"{settings.table('ledger')} version {result['ledger']['version']}"],
                [
                    "stream",
                    f"{stream['shard']} seq {stream['sequence_number']}" if stream else "not found",
                ],
                ["archive", result["archive"] or "not yet delivered"],
                ["index", INDEX_STATES[result["index"]]],
            ]
            rows += [
                [f"consumer {name}", f"at v{position['version']} ({_consumer_state(position)})"]
                for name, position in result["consumers"].items()
            ]
            _print_table(rows)
    return result


def _consumer_state(position: dict[str, Any]) -> str:
    if position["applied"]:
        return "applied"
    if not position["subscribed"]:
        return "not subscribed: its filter policy excludes this event"
    return "not applied yet: pending, or failed (see ops.py dlq)"


def _found(result: dict[str, Any]) -> bool:
    """Whether a command found what it was asked about (a trace: the event)."""
    return "ledger" not in result or result["ledger"] is not None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    common = argparse.ArgumentParser(add_help=False)
    # Also after the subcommand (ops.py dlq --aws-port 5000 --json); SUPPRESS keeps the
    # one given before it when absent here.
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="last line: one JSON object"
    )
    common.add_argument(
        "--aws-port", type=tcp_port, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    common.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dlq", parents=[common], help="every DLQ and the stream failure queue")
    redrive = sub.add_parser("redrive", parents=[common], help="move a DLQ's messages back")
    redrive.add_argument("queue", help="the queue's name, as `dlq` lists it")
    trace_cmd = sub.add_parser("trace", parents=[common], help="where one event is")
    trace_cmd.add_argument("event_id")
    trace_cmd.add_argument(
        "--subject", help="the event's aggregate id, if known (a query instead of a ledger scan)"
    )
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "dlq": cmd_dlq,
    "redrive": cmd_redrive,
    "trace": cmd_trace,
}


def _fail(args: argparse.Namespace, message: str, code: int = 2) -> int:
    """One line on stderr (and, under --json, the error as the last line of stdout)."""
    print(f"error: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"error": message}))
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.aws_port is not None:
        try:
            use_local_stack(args.aws_port, args.state_dir)
        except StackNotRunning as exc:
            return _fail(args, str(exc))
    elif "NAME_PREFIX" not in os.environ:
        # Against AWS the stage's settings must be explicit, never defaults.
        return _fail(
            args,
            "set the stage's settings (NAME_PREFIX, AWS_REGION, ... as in "
            "chalice_app/.chalice/config.json) or pass --aws-port of a local stack",
        )
    try:
        result = COMMANDS[args.command](args)
    except KeyError as exc:
        return _fail(args, exc.args[0])
    except Exception as exc:
        line = explain(exc, args.aws_port)
        if line is None:
            raise
        return _fail(args, line)
    if args.json:
        print(json.dumps(result, default=str))
    # Asked about something that is not there (an unknown event id): say so by the exit code.
    return 0 if _found(result) else 1


if __name__ == "__main__":
    sys.exit(main())
