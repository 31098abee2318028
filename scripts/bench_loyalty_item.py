"""Benchmark: one heavy buyer's loyalty item, through the projector.

A member registers, buys ``--purchases`` times (one purchase aggregate per
order, ``--spacing`` seconds apart), leaves the programme, and buys
``--purchases`` times more. Every event goes through the projector's code
(``chalicelib.service.projector.project_records``: parse, load, fold, settle, write)
over an in-memory table, with the ledger's history and a clock that runs
``--lag`` seconds behind each event (the stream's delay); no AWS round trip
is counted. Printed per ``--every`` events: the CPU time taken (the fold is
CPU-bound; wall time on a shared machine is noise) and the loyalty
item's size as DynamoDB counts it. The last line of output is JSON:
``{"events","item_bytes","max_item_bytes","pending","positions_in_item",
"position_items","points","seconds_per_chunk","chunk_spread","last_to_first",
"baseline"}``;
``chunk_spread`` is the largest distance of a chunk's time from the median
chunk's, relative to it, and ``last_to_first`` the last chunk's time over the
first's: a fold linear in events keeps both near 0 and 1 whatever
``--purchases`` is. The garbage collector runs between chunks, not in them
(the in-memory table's 200,000 position items would make its full passes the
thing measured). With ``--rounds`` the run is repeated and each chunk's
time is its fastest round's, which filters out other processes' load.
``baseline`` is a first, smaller run (``--baseline`` purchases per phase) of
the same projector given no ledger, so that nothing is settled: the
``pending`` list then grows with every purchase, as it did before the
watermark, and so do the item and the time per chunk.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson

from chalicelib.adapters.dynamo import item_size
from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.domain.events import PURCHASE_MADE, USER_CREATED, USER_LOYALTY_LEFT
from chalicelib.service.projector import project_records

USER = "u-heavy"
START = datetime(2026, 1, 1, tzinfo=UTC)
# The declared loyalty read model, with no early-adopter places.
LOYALTY = read_model("loyalty", SimpleNamespace(early_adopter_count=0))


class MemoryTable:
    """The slice of a boto3 Table resource the read-model store uses, in memory.

    Conditions are the store's own: absent, or ``version`` equal to (or for a
    rebuild at most) the given value.
    """

    name = "read-models"

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.meta = self  # the store reaches transactions through ``meta.client``
        self.client = self

    def get_item(self, Key: dict[str, str], **_: Any) -> dict[str, Any]:
        item = self.items.get(Key["pk"])
        return {} if item is None else {"Item": item}

    def put_item(self, Item: dict[str, Any], **condition: Any) -> None:
        self._check(Item["pk"], condition)
        self.items[Item["pk"]] = Item

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        puts = [entry["Put"] for entry in TransactItems]
        for put in puts:
            self._check(put["Item"]["pk"], put)
        for put in puts:
            self.items[put["Item"]["pk"]] = put["Item"]

    def _check(self, pk: str, request: dict[str, Any]) -> None:
        expression = request.get("ConditionExpression")
        stored = self.items.get(pk)
        if expression is None or (expression == "attribute_not_exists(pk)" and stored is None):
            return
        values = request.get("ExpressionAttributeValues", {})
        expected = next(iter(values.values()), None)
        if expression.startswith("version = ") and stored and stored["version"] == expected:
            return
        raise RuntimeError(f"benchmark table: condition {expression!r} failed on {pk}")


def _event(
    event_type: str, subject: str, version: int, at: datetime, data: dict[str, Any]
) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{subject}-{version}",
            "source": "/bench",
            "type": event_type,
            "time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "subject": subject,
            "datacontenttype": "application/json",
            "aggregateversion": version,
            "data": data,
        }
    )


def heavy_buyer(purchases: int, spacing: timedelta) -> Iterator[tuple[datetime, bytes]]:
    """(time, record): registration, ``purchases`` buys, leaving, ``purchases`` more."""
    created = {
        "user_id": USER,
        "name": "sealed",
        "lastname": "sealed",
        "email": "sealed",
        "address": "sealed",
        "loyalty": True,
        "consents": {"marketing": False},
    }
    yield START, _event(USER_CREATED, USER, 1, START, created)
    at = START
    for n in range(2 * purchases):
        if n == purchases:
            at += spacing
            yield at, _event(USER_LOYALTY_LEFT, USER, 2, at, {"user_id": USER})
        at += spacing
        order = {"user_id": USER, "order_id": f"o{n}", "amount": "42.50", "currency": "EUR"}
        yield at, _event(PURCHASE_MADE, f"p-{n}", 1, at, order)


def run(
    purchases: int,
    spacing: timedelta,
    lag: timedelta,
    every: int,
    out: Callable[[str], None],
    settling: bool = True,
) -> dict[str, Any]:
    """Project the heavy buyer's events; print a line per chunk; return the figures.

    Without ``settling`` the projector gets no ledger, so nothing is settled (the baseline).
    """
    table = MemoryTable()
    store = ReadModelStore(table)
    user_events: list[bytes] = []
    now = [START]

    def history(aggregate_id: str) -> list[bytes]:
        return user_events if aggregate_id == USER else []

    chunk_seconds: list[float] = []
    sizes: list[int] = []
    count = 0
    gc.disable()
    started = time.process_time()
    for at, record in heavy_buyer(purchases, spacing):
        if b'"subject":"' + USER.encode() + b'"' in record:
            user_events.append(record)  # committed to the ledger before it is projected
        now[0] = at + lag
        project_records(
            [record], store, [LOYALTY], history if settling else None, clock=lambda: now[0]
        )
        count += 1
        if count % every == 0:
            chunk_seconds.append(time.process_time() - started)
            sizes.append(item_size(table.items[f"loyalty#{USER}"]))
            out(
                f"{count:>9,} events  {chunk_seconds[-1]:7.3f} s  item {sizes[-1]:>6,} bytes  "
                f"pending {len(table.items[f'loyalty#{USER}']['pending'])}"
            )
            gc.collect()
            started = time.process_time()
    gc.enable()
    item = table.items[f"loyalty#{USER}"]
    sizes.append(item_size(item))
    loyalty = store.state(LOYALTY, USER)
    assert loyalty is not None
    return {
        "events": count,
        "item_bytes": sizes[-1],
        "max_item_bytes": max(sizes),
        "pending": len(item["pending"]),
        "positions_in_item": len(item["positions"]),
        "position_items": sum(1 for pk in table.items if pk.startswith(LOYALTY.position_pk(""))),
        "points": loyalty.points,
        **_flatness(chunk_seconds),
    }


def _flatness(chunk_seconds: list[float]) -> dict[str, Any]:
    if not chunk_seconds or min(chunk_seconds) <= 0:
        return {"seconds_per_chunk": chunk_seconds, "chunk_spread": 0.0, "last_to_first": 0.0}
    median = statistics.median(chunk_seconds)
    return {
        "seconds_per_chunk": [round(s, 3) for s in chunk_seconds],
        "chunk_spread": round(max(abs(s - median) for s in chunk_seconds) / median, 3),
        "last_to_first": round(chunk_seconds[-1] / chunk_seconds[0], 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=100_000, help="per phase (before/after)")
    parser.add_argument("--every", type=int, default=10_000, help="events per printed chunk")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between purchases")
    parser.add_argument("--lag", type=float, default=1.0, help="projector's delay, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="runs; each chunk's fastest counts")
    parser.add_argument(
        "--baseline",
        type=int,
        default=2_500,
        help="purchases per phase of the baseline run without a ledger (nothing settled)",
    )
    args = parser.parse_args(argv)
    spacing, lag = timedelta(seconds=args.spacing), timedelta(seconds=args.lag)
    baseline: dict[str, Any] = {}
    if args.baseline > 0:
        print("baseline: the same projector without the ledger's watermark")
        every = max(args.baseline // 5, 1)
        baseline = run(args.baseline, spacing, lag, every, print, settling=False)
    rounds = []
    for number in range(1, max(args.rounds, 1) + 1):
        print(f"round {number}")
        gc.collect()
        rounds.append(run(args.purchases, spacing, lag, args.every, print))
    figures = rounds[-1]
    chunks = [min(times) for times in zip(*(r["seconds_per_chunk"] for r in rounds), strict=True)]
    figures.update(_flatness(chunks))
    if baseline:
        figures["baseline"] = {
            key: baseline[key]
            for key in ("events", "item_bytes", "pending", "chunk_spread", "last_to_first")
        }
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
