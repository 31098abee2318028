"""CloudEvents 1.0 envelope and the platform's event types.

Every event is a structured-mode CloudEvent JSON object; ``subject`` is the
aggregate id and ``aggregateversion`` (an extension attribute) its 1-based,
gap-free version. ``data`` is validated against the model of its ``type``.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    create_model,
    field_serializer,
)

from chalicelib.exceptions import InvalidEvent
from chalicelib.money import Money
from projections.event_types import (
    ACCOUNT_DEPOSITED,
    ACCOUNT_OPENED,
    ACCOUNT_WITHDRAWN,
    PURCHASE_MADE,
    USER_CONSENTS_CHANGED,
    USER_CREATED,
    USER_ERASED,
    USER_LOYALTY_JOINED,
    USER_LOYALTY_LEFT,
    USER_TYPES,
)

__all__ = [
    "ACCOUNT_DEPOSITED",
    "ACCOUNT_OPENED",
    "ACCOUNT_WITHDRAWN",
    "DATA_MODELS",
    "PURCHASE_MADE",
    "USER_CONSENTS_CHANGED",
    "USER_CREATED",
    "USER_ERASED",
    "USER_LOYALTY_JOINED",
    "USER_LOYALTY_LEFT",
    "USER_TYPES",
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
    "stored_model",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventData(BaseModel):
    """Base of every event's ``data``; subclasses name their type and source.

    Each model's validator is built on its first use (``defer_build``): most
    functions only read stored events (``stored_model``), and UserCreated's
    email validation alone would import email_validator in each of them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    event_type: ClassVar[str]
    source: ClassVar[str]
    # Fields holding personal data: sealed with the person's key in every
    # stored copy (see personal_data.py). Declared here, once per event type.
    personal_fields: ClassVar[frozenset[str]] = frozenset()


class Consents(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    marketing: bool = False


Address = str | dict[str, str]


class UserCreated(EventData):
    event_type: ClassVar[str] = USER_CREATED
    source: ClassVar[str] = "/users"
    personal_fields: ClassVar[frozenset[str]] = frozenset({"name", "lastname", "email", "address"})
    user_id: str
    name: str
    lastname: str
    email: EmailStr
    address: Address
    loyalty: bool = False
    consents: Consents = Consents()


class UserErased(EventData):
    """The person's key was deleted; carries no personal data.

    ``loyalty`` and ``marketing`` let the fan-out reach the consumers that
    hold the person's data (their filter policies select on them).
    """

    event_type: ClassVar[str] = USER_ERASED
    source: ClassVar[str] = "/gdpr"
    user_id: str
    loyalty: bool = False
    marketing: bool = False


class LoyaltyJoined(EventData):
    """The user joined the loyalty programme after registering."""

    event_type: ClassVar[str] = USER_LOYALTY_JOINED
    source: ClassVar[str] = "/users"
    user_id: str


class LoyaltyLeft(EventData):
    """The user left the loyalty programme."""

    event_type: ClassVar[str] = USER_LOYALTY_LEFT
    source: ClassVar[str] = "/users"
    user_id: str


class ConsentsChanged(EventData):
    """The user gave or withdrew marketing consent; ``previous`` is what it replaced."""

    event_type: ClassVar[str] = USER_CONSENTS_CHANGED
    source: ClassVar[str] = "/users"
    user_id: str
    marketing: bool
    previous: Consents


class AccountOpened(EventData):
    event_type: ClassVar[str] = ACCOUNT_OPENED
    source: ClassVar[str] = "/accounts"
    account_id: str
    owner_id: str
    currency: str


class AccountDeposited(EventData):
    event_type: ClassVar[str] = ACCOUNT_DEPOSITED
    source: ClassVar[str] = "/accounts"
    account_id: str
    amount: Money


class AccountWithdrawn(EventData):
    event_type: ClassVar[str] = ACCOUNT_WITHDRAWN
    source: ClassVar[str] = "/accounts"
    account_id: str
    amount: Money


class PurchaseMade(EventData):
    event_type: ClassVar[str] = PURCHASE_MADE
    source: ClassVar[str] = "/purchases"
    user_id: str
    order_id: str
    amount: Money
    currency: str


DATA_MODELS: dict[str, type[EventData]] = {
    model.event_type: model
    for model in (
        UserCreated,
        UserErased,
        LoyaltyJoined,
        LoyaltyLeft,
        ConsentsChanged,
        AccountOpened,
        AccountDeposited,
        AccountWithdrawn,
        PurchaseMade,
    )
}


@functools.cache
def stored_model(model: type[EventData]) -> type[EventData]:
    """The model of ``data`` as stored: personal fields hold sealed or redacted strings."""
    if not model.personal_fields:
        return model
    overrides: dict[str, Any] = {name: (Any, ...) for name in model.personal_fields}
    return create_model(f"Stored{model.__name__}", __base__=model, **overrides)


class CloudEvent(BaseModel):
    """A structured-mode CloudEvents 1.0 event of this platform."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime
    subject: str = Field(min_length=1)
    datacontenttype: Literal["application/json"] = "application/json"
    aggregateversion: int = Field(ge=1)
    data: dict[str, Any]

    @field_serializer("time")
    def _serialize_time(self, value: datetime) -> str:
        return format_time(value)

    def payload(self) -> EventData:
        """``data`` as the model of this event's type (personal fields as stored)."""
        return stored_model(DATA_MODELS[self.type]).model_validate(self.data)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def new_event(
    data: EventData,
    *,
    subject: str,
    version: int,
    time: datetime | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """Wrap event data in a new envelope."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=data.source,
        type=data.event_type,
        time=time or utc_now(),
        subject=subject,
        aggregateversion=version,
        data=data.model_dump(mode="json"),
    )


def parse_event(raw: str | bytes | dict[str, Any]) -> CloudEvent:
    """Parse and validate a CloudEvent (envelope and typed data).

    Raises InvalidEvent for anything that is not a valid event of a known type.
    """
    try:
        obj = raw if isinstance(raw, dict) else orjson.loads(raw)
        event = CloudEvent.model_validate(obj)
    except (orjson.JSONDecodeError, ValidationError, TypeError) as exc:
        raise InvalidEvent(f"not a valid CloudEvent: {exc}") from exc
    model = DATA_MODELS.get(event.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {event.type!r}")
    try:
        stored_model(model).model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid data for {event.type}: {exc}") from exc
    if event.time.tzinfo is None:
        raise InvalidEvent("event time must carry a timezone")
    return event
