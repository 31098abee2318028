"""Per-aggregate ordering: where an incoming event stands against the applied version.

Every consumer that keeps "the version it applied" (read models, SQS
subscribers) applies exactly the next expected version, skips what it has
seen, and waits for a missing predecessor.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Arrival", "arrival"]


class Arrival(Enum):
    """How an event relates to the version already applied."""

    DUPLICATE = "duplicate"  # already applied: change nothing
    NEXT = "next"  # the next expected version: apply it
    EARLY = "early"  # a predecessor is missing: retry later


def arrival(applied: int, incoming: int) -> Arrival:
    """Where version ``incoming`` stands when ``applied`` (0: none) was applied last."""
    if incoming <= applied:
        return Arrival.DUPLICATE
    if incoming == applied + 1:
        return Arrival.NEXT
    return Arrival.EARLY
