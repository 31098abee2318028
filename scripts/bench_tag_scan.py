"""Benchmark: what the old attribute order costs the decode, and the floor of any way around it.

The catalogue decodes each line as a msgspec tagged union on ``type``. Today's
writer puts ``type`` first; the writer before the catalogue put it fourth
(``specversion, id, source, type``), so for those lines msgspec scans to the
tag, skipping three values, and starts the object over. Any other way to
pick a line's type without that scan must first look through the object
itself (a regex, ``bytes.find``/``replace``, grouping lines); the cheapest
such look is one ``bytes.count`` of ``"type":"`` over the object, which this
measures as the floor of them all, beside the union's decode of both orders.

The same synthetic account events as ``bench_replay.py`` in objects of
``--lines`` lines, held in memory; CPU nanoseconds per line (``process_time``),
best of ``--rounds``, the measurements alternating in one process. The last
line of output is JSON: ``{"lines","decode_today_ns","decode_before_catalogue_ns",
"tag_scan_ns","one_scan_ns","one_scan_to_tag_scan","load_average"}``;
``one_scan_to_tag_scan`` above 1 means every scan-first way costs more than
the tag scan it would save.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable, Sequence
from itertools import islice

import orjson
from bench_replay import synthetic_events

from projections.catalogue import decode_lines

TAG_KEY = b'"type":"'


def objects(count: int, accounts: int, lines: int, written_by: str) -> list[bytes]:
    """``count`` events as ``written_by`` wrote them, in NDJSON objects of ``lines`` lines."""
    events = synthetic_events(count, accounts, seed=7, written_by=written_by)
    out = []
    while batch := list(islice(events, lines)):
        out.append(b"\n".join(batch) + b"\n")
    return out


def _decode(bodies: Sequence[bytes]) -> None:
    for body in bodies:
        decode_lines(body)


def _one_scan(bodies: Sequence[bytes]) -> None:
    for body in bodies:
        body.count(TAG_KEY)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=2_500, help="lines an object")
    parser.add_argument("--rounds", type=int, default=7, help="best of N for each measurement")
    args = parser.parse_args(argv)
    if args.events < args.accounts:
        parser.error("--events must be at least --accounts")

    today = objects(args.events, args.accounts, args.lines, "today")
    before = objects(args.events, args.accounts, args.lines, "before-catalogue")
    if [orjson.loads(line) for line in today[0].splitlines()] != [
        orjson.loads(line) for line in before[0].splitlines()
    ]:
        raise SystemExit("the two orders do not hold the same events")
    runs: dict[str, tuple[Callable[[Sequence[bytes]], None], list[bytes]]] = {
        "decode_today_ns": (_decode, today),
        "decode_before_catalogue_ns": (_decode, before),
        "one_scan_ns": (_one_scan, before),
    }
    gc.collect()
    load_average = os.getloadavg()[0]
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(max(1, args.rounds)):
        for name, (measure, bodies) in runs.items():
            started = time.process_time()
            measure(bodies)
            best[name] = min(best[name], time.process_time() - started)
    lines = args.events
    per_line = {name: seconds * 1e9 / lines for name, seconds in best.items()}
    tag_scan = per_line["decode_before_catalogue_ns"] - per_line["decode_today_ns"]
    print(
        orjson.dumps(
            {
                "lines": lines,
                **{name: round(ns, 1) for name, ns in per_line.items()},
                "tag_scan_ns": round(tag_scan, 1),
                "one_scan_to_tag_scan": round(per_line["one_scan_ns"] / tag_scan, 2)
                if tag_scan > 0
                else None,
                "load_average": round(load_average, 2),
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
