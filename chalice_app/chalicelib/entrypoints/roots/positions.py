"""Where each consumer and the projector stand for an event (ops trace and console).

Not a role of a Lambda function: it reads the subscribers' records and the
read models, so that the subscribers themselves import no read model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import resources
from chalicelib.entrypoints.roots import stores
from chalicelib.entrypoints.roots.subscribers import subscriber_consumer
from projections.catalogue import from_mapping

__all__ = ["applied_positions"]


def applied_positions(event: Mapping[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Where each consumer and the projector stand for ``event``'s aggregate (for ops trace)."""
    subject = str(event["subject"])
    positions: dict[str, dict[str, Any] | None] = {
        s.key: subscriber_consumer(s.key).position(subject) for s in resources.SUBSCRIBERS
    }
    store = stores.read_models()
    envelope = from_mapping(event)
    versions: list[int] = []
    missing = False
    for model in stores.live_read_models():
        key = model.fold.key(envelope) if model.reads(envelope) else None
        if key is None:
            continue
        version = store.applied(model, key, subject)
        if version is None:
            missing = True
        else:
            versions.append(int(version))
    # The projector as a whole is as far as the least advanced read model of the event.
    lowest = None if missing or not versions else min(versions)
    positions["projector"] = None if lowest is None else {"version": int(lowest)}
    return positions
