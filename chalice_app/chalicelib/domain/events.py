"""The platform's events on the write side: new envelopes, and parsing with validation.

The event types themselves are declared once, in the catalogue
(projections.catalogue: a frozen msgspec Struct per type, its version, its
personal fields and its SNS attributes); this module re-exports them, and
adds what only the write side and the consumers need: stamping new events
(``new_event``) and parsing a record strictly (``parse_event``), with
anything that is not a valid platform event refused as InvalidEvent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain.exceptions import InvalidEvent
from projections.catalogue import (
    ACCOUNT_DEPOSITED,
    ACCOUNT_OPENED,
    ACCOUNT_TYPES,
    ACCOUNT_WITHDRAWN,
    DATA_TYPES,
    PURCHASE_MADE,
    USER_CONSENTS_CHANGED,
    USER_CREATED,
    USER_ERASED,
    USER_LOYALTY_JOINED,
    USER_LOYALTY_LEFT,
    USER_TYPE_PREFIX,
    USER_TYPES,
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    CloudEvent,
    Consents,
    ConsentsChanged,
    EventData,
    LoyaltyJoined,
    LoyaltyLeft,
    PurchaseMade,
    UnknownEventVersion,
    UserCreated,
    UserErased,
    decode_cloud_event,
    new,
)
from projections.timekeys import CANONICAL_LENGTH, time_key

__all__ = [
    "ACCOUNT_DEPOSITED",
    "ACCOUNT_OPENED",
    "ACCOUNT_TYPES",
    "ACCOUNT_WITHDRAWN",
    "DATA_MODELS",
    "PURCHASE_MADE",
    "USER_CONSENTS_CHANGED",
    "USER_CREATED",
    "USER_ERASED",
    "USER_LOYALTY_JOINED",
    "USER_LOYALTY_LEFT",
    "USER_TYPES",
    "USER_TYPE_PREFIX",
    "AccountDeposited",
    "AccountOpened",
    "AccountWithdrawn",
    "CloudEvent",
    "Consents",
    "ConsentsChanged",
    "EventData",
    "LoyaltyJoined",
    "LoyaltyLeft",
    "PurchaseMade",
    "UserCreated",
    "UserErased",
    "format_time",
    "new_event",
    "parse_event",
    "utc_now",
    "with_data",
]

# The data struct of every event type, by CloudEvents ``type``.
DATA_MODELS = DATA_TYPES
_CENT = Decimal("0.01")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime | str) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and microseconds (an event's ``time``)."""
    return time_key(value)


def _validated(data: EventData) -> EventData:
    """``data`` checked against its type's fields; money as a 2-decimal string."""
    fields = msgspec.structs.asdict(data)
    for name, value in fields.items():
        if isinstance(value, Decimal):
            fields[name] = f"{value.quantize(_CENT):f}"
    try:
        return msgspec.convert(msgspec.to_builtins(fields), type(data), strict=True, str_keys=True)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"invalid data for {data.type}: {exc}") from exc


def new_event(
    data: EventData,
    *,
    subject: str,
    version: int,
    time: datetime | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """Wrap event data, of its type's current version, in a new envelope."""
    return new(
        _validated(data),
        id=event_id or str(uuid.uuid4()),
        subject=subject,
        aggregateversion=version,
        time=format_time(time or utc_now()),
    )


def with_data(event: CloudEvent, data: Mapping[str, Any]) -> CloudEvent:
    """``event`` with ``data`` instead (e.g. its personal fields sealed), checked likewise."""
    return parse_event({**event.to_dict(), "data": dict(data)})


def _checked_envelope(event: CloudEvent) -> CloudEvent:
    """``event`` if its envelope is valid, its time in the canonical spelling; else InvalidEvent."""
    if event.specversion != "1.0":
        raise InvalidEvent(f"specversion must be 1.0, not {event.specversion!r}")
    if event.datacontenttype != "application/json":
        raise InvalidEvent("datacontenttype must be application/json")
    if not (event.id and event.source and event.subject):
        raise InvalidEvent("id, source and subject must not be empty")
    if event.aggregateversion < 1:
        raise InvalidEvent(f"aggregateversion must be at least 1, not {event.aggregateversion}")
    stamp = event.time
    if len(stamp) == CANONICAL_LENGTH and stamp[-1] == "Z" and stamp[19] == ".":
        return event
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise InvalidEvent(f"event time {stamp!r} is not RFC 3339") from exc
    if parsed.tzinfo is None:
        raise InvalidEvent("event time must carry a timezone")
    return replace(event, time=format_time(parsed))


def parse_event(raw: str | bytes | Mapping[str, Any]) -> CloudEvent:
    """Parse and validate a CloudEvent (envelope and typed data), upcast to the current version.

    Raises InvalidEvent for anything that is not a valid event of a known
    type and version.
    """
    try:
        event = decode_cloud_event(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidEvent(f"not a valid CloudEvent of a known type: {exc}") from exc
    except UnknownEventVersion as exc:
        raise InvalidEvent(str(exc)) from exc
    return _checked_envelope(event)
