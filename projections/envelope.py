"""The slice of a CloudEvent that folds read, decoded without building dicts.

msgspec decodes only these fields (everything else in the JSON is skipped
without allocating) into GC-untracked structs, and decodes a whole NDJSON
archive object in one call. That is what keeps a replay near the cost of
merely parsing the archive. Validation of the full event happens on the
write side (pydantic); here types are checked, nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["Event", "EventData", "decode_event", "decode_lines", "from_mapping"]


class EventData(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """The ``data`` fields any projection reads (add a field here when a fold needs it)."""

    account_id: str | None = None
    owner_id: str | None = None
    currency: str | None = None
    amount: str | int | float | None = None
    user_id: str | None = None
    order_id: str | None = None
    loyalty: bool = False


class Event(msgspec.Struct, frozen=True, gc=False):
    """A CloudEvent as the folds see it."""

    type: str
    subject: str
    aggregateversion: int
    time: str
    data: EventData = EventData()


_decoder = msgspec.json.Decoder(Event)


def decode_event(raw: bytes | str) -> Event:
    """One CloudEvent JSON document; raises msgspec.ValidationError/DecodeError."""
    return _decoder.decode(raw)


def decode_lines(raw: bytes | str) -> list[Event]:
    """Every event of an NDJSON buffer (blank lines skipped); one bad line fails the call."""
    return _decoder.decode_lines(raw)


def from_mapping(event: Mapping[str, Any]) -> Event:
    """An Event from an already parsed CloudEvent dict (e.g. ``CloudEvent.to_dict()``)."""
    return msgspec.convert(event, Event, strict=True)
