"""The flow page's series: recent events per type and per consumer, counted per minute.

Pure: the events (newest first, as the index returns them) and, per consumer,
the ids it has applied go in; aligned per-minute counts come out. A consumer
that stalls keeps a flat line at zero while the types' lines go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["BUCKET_SECONDS", "counts_over_time"]

BUCKET_SECONDS = 60


def _bucket(time: str) -> int:
    epoch = datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    return int(epoch // BUCKET_SECONDS * BUCKET_SECONDS)


def counts_over_time(
    events: Iterable[Mapping[str, Any]],
    applied: Mapping[str, set[str]],
    *,
    now: float,
    minutes: int = 30,
) -> dict[str, Any]:
    """``{"x": [bucket starts], "types": {type: counts}, "consumers": {name: counts}}``.

    The buckets cover the last ``minutes`` minutes up to ``now``, one per
    minute, so an idle minute shows as 0 rather than as a gap.
    """
    last = int(now // BUCKET_SECONDS * BUCKET_SECONDS)
    x = [last - BUCKET_SECONDS * i for i in range(minutes - 1, -1, -1)]
    index = {start: i for i, start in enumerate(x)}
    types: dict[str, list[int]] = {}
    consumers: dict[str, list[int]] = {name: [0] * len(x) for name in sorted(applied)}
    for event in events:
        slot = index.get(_bucket(str(event["time"])))
        if slot is None:
            continue
        types.setdefault(str(event["type"]), [0] * len(x))[slot] += 1
        for name, ids in applied.items():
            if str(event["id"]) in ids:
                consumers[name][slot] += 1
    return {"x": x, "types": dict(sorted(types.items())), "consumers": consumers}
