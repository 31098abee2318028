"""The event catalogue: every platform event type, declared once.

Each type is a frozen, GC-untracked msgspec Struct of its ``data``, naming
its CloudEvents ``type`` and ``source``, its schema version, its personal
fields (sealed in every stored copy, chalicelib.adapters.personal_data) and the SNS
message attributes it carries (``sns_attributes``). Everything else derives
from these declarations: the write side's envelopes (chalicelib.domain.events), the
folds here, the consumers, the fan-out and its filter policies, the search
documents and the API's event lists.

An event is decoded once per record, by msgspec, as a tagged union on
``type``: the envelope and the typed data in one call, without building
dicts, so a replay stays near the cost of merely parsing the archive.

Schema evolution: a type's version travels in the CloudEvents ``dataschema``
(``schema_uri``; absent means version 1). A type that changes shape gains a
version: its struct becomes the new shape, the old one is kept as a struct
of its own with an upcaster beside it (``Upcast``), and the decode path
upcasts every older event, so each reader (replay, projector, consumers,
trace, the API's event lists, search) sees the current version only. A
version this code does not know is refused (UnknownEventVersion).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec
from msgspec.structs import force_setattr

from projections.errors import InvalidLine

__all__ = [
    "ACCOUNT_DEPOSITED",
    "ACCOUNT_OPENED",
    "ACCOUNT_TYPES",
    "ACCOUNT_WITHDRAWN",
    "DATA_TYPES",
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
    "Event",
    "EventData",
    "LoyaltyJoined",
    "LoyaltyLeft",
    "PurchaseMade",
    "UnknownEventVersion",
    "Upcast",
    "UserCreated",
    "UserCreatedV1",
    "UserErased",
    "current_mapping",
    "decode_cloud_event",
    "decode_event",
    "decode_lines",
    "from_mapping",
    "new",
    "record_class",
    "schema_uri",
    "schema_version",
]

# The CloudEvents ``type`` of every platform event (the only place they are spelled).
USER_CREATED = "com.example.user.created"
USER_ERASED = "com.example.user.erased"
USER_LOYALTY_JOINED = "com.example.user.loyalty_joined"
USER_LOYALTY_LEFT = "com.example.user.loyalty_left"
USER_CONSENTS_CHANGED = "com.example.user.consents_changed"
PURCHASE_MADE = "com.example.purchase.made"
ACCOUNT_OPENED = "com.example.account.opened"
ACCOUNT_DEPOSITED = "com.example.account.deposited"
ACCOUNT_WITHDRAWN = "com.example.account.withdrawn"
# What every user event's type begins with (the fan-out's topic takes them all).
USER_TYPE_PREFIX = "com.example.user."

# Where a type's data schema of a version is named (CloudEvents ``dataschema``).
SCHEMA_BASE = "https://schemas.example.com/events"


def schema_uri(event_type: str, version: int) -> str:
    """The ``dataschema`` of ``event_type`` at ``version``."""
    return f"{SCHEMA_BASE}/{event_type}/v{version}"


class UnknownEventVersion(InvalidLine):
    """An event whose ``dataschema`` names a version this code does not know."""


class EventData(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """Base of every event's ``data``; each subclass declares one event type."""

    type: ClassVar[str]
    source: ClassVar[str]
    # The version written now; older ones are upcast on decode (``upcasts``).
    version: ClassVar[int] = 1
    # ``{older version: how to read it}``, each upcasting to the next version.
    upcasts: ClassVar[Mapping[int, Upcast[Any, Any]]] = {}
    # Fields holding personal data: sealed with the person's key in every stored copy.
    personal_fields: ClassVar[frozenset[str]] = frozenset()

    def sns_attributes(self) -> dict[str, bool]:
        """The flags the fan-out's SNS message carries for this event (filter policies)."""
        return {}


Old = TypeVar("Old", bound=msgspec.Struct)
New = TypeVar("New", bound=msgspec.Struct)


class Upcast(msgspec.Struct, Generic[Old, New], frozen=True):
    """An older version of a type: its shape, and the step to the next version."""

    shape: type[Old]
    to_next: Callable[[Old], New]


class Consents(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    marketing: bool = False


if TYPE_CHECKING:
    # A writer may give a Decimal: new_event (chalicelib.domain.events) writes it as
    # the contract's string, and every decoded event holds that string.
    Amount = str | Decimal
else:
    # Money: a decimal string with 2 places ("12.50").
    Amount = str

# One line of text, or named parts ({"street": ..., "city": ...}); sealed: a string.
Address = str | dict[str, str]
_USER_PERSONAL_FIELDS = frozenset({"name", "lastname", "email", "address"})


class UserCreatedV1(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """``user.created`` as written until 2026-12: marketing consent nested in ``consents``."""

    user_id: str
    name: str
    lastname: str
    email: str
    address: Address
    loyalty: bool = False
    consents: Consents = Consents()


def _user_created_from_v1(old: UserCreatedV1) -> UserCreated:
    return UserCreated(
        user_id=old.user_id,
        name=old.name,
        lastname=old.lastname,
        email=old.email,
        address=old.address,
        loyalty=old.loyalty,
        marketing=old.consents.marketing,
    )


class UserCreated(EventData, frozen=True, gc=False):
    """A user registered (version 2: ``marketing`` is a flag of its own).

    Every user event that bears on marketing consent (this one,
    ``user.consents_changed``, ``user.erased``) spells it ``marketing``, as
    the SNS attribute and the filter policies do.
    """

    type: ClassVar[str] = USER_CREATED
    source: ClassVar[str] = "/users"
    version: ClassVar[int] = 2
    upcasts: ClassVar[Mapping[int, Upcast[Any, Any]]] = {
        1: Upcast(UserCreatedV1, _user_created_from_v1)
    }
    personal_fields: ClassVar[frozenset[str]] = _USER_PERSONAL_FIELDS

    user_id: str
    name: str
    lastname: str
    email: str
    address: Address
    loyalty: bool = False
    marketing: bool = False

    def sns_attributes(self) -> dict[str, bool]:
        return {"loyalty": self.loyalty, "marketing": self.marketing}


class UserErased(EventData, frozen=True, gc=False):
    """The person's key was deleted; carries no personal data.

    ``loyalty`` and ``marketing`` let the fan-out reach the consumers that
    hold the person's data (their filter policies select on them).
    """

    type: ClassVar[str] = USER_ERASED
    source: ClassVar[str] = "/gdpr"

    user_id: str
    loyalty: bool = False
    marketing: bool = False

    def sns_attributes(self) -> dict[str, bool]:
        return {"loyalty": self.loyalty, "marketing": self.marketing}


class LoyaltyJoined(EventData, frozen=True, gc=False):
    """The user joined the loyalty programme after registering."""

    type: ClassVar[str] = USER_LOYALTY_JOINED
    source: ClassVar[str] = "/users"

    user_id: str

    def sns_attributes(self) -> dict[str, bool]:
        return {"loyalty": True}


class LoyaltyLeft(EventData, frozen=True, gc=False):
    """The user left the loyalty programme."""

    type: ClassVar[str] = USER_LOYALTY_LEFT
    source: ClassVar[str] = "/users"

    user_id: str

    def sns_attributes(self) -> dict[str, bool]:
        return {"loyalty": False}


class ConsentsChanged(EventData, frozen=True, gc=False):
    """The user gave or withdrew marketing consent; ``previous`` is what it replaced."""

    type: ClassVar[str] = USER_CONSENTS_CHANGED
    source: ClassVar[str] = "/users"

    user_id: str
    marketing: bool
    previous: Consents

    def sns_attributes(self) -> dict[str, bool]:
        return {"marketing": self.marketing}


class AccountOpened(EventData, frozen=True, gc=False):
    type: ClassVar[str] = ACCOUNT_OPENED
    source: ClassVar[str] = "/accounts"

    account_id: str
    owner_id: str
    currency: str


class AccountDeposited(EventData, frozen=True, gc=False):
    """``amount``: a decimal string with 2 places (``"12.50"``)."""

    type: ClassVar[str] = ACCOUNT_DEPOSITED
    source: ClassVar[str] = "/accounts"

    account_id: str
    amount: Amount


class AccountWithdrawn(EventData, frozen=True, gc=False):
    """``amount``: a decimal string with 2 places (``"12.50"``)."""

    type: ClassVar[str] = ACCOUNT_WITHDRAWN
    source: ClassVar[str] = "/accounts"

    account_id: str
    amount: Amount


class PurchaseMade(EventData, frozen=True, gc=False):
    """``amount``: a decimal string with 2 places (``"12.50"``)."""

    type: ClassVar[str] = PURCHASE_MADE
    source: ClassVar[str] = "/purchases"

    user_id: str
    order_id: str
    amount: Amount
    currency: str


DATA_TYPES: dict[str, type[EventData]] = {
    data.type: data
    for data in (
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
USER_TYPES = frozenset(t for t in DATA_TYPES if t.startswith(USER_TYPE_PREFIX))
ACCOUNT_TYPES = frozenset({ACCOUNT_OPENED, ACCOUNT_DEPOSITED, ACCOUNT_WITHDRAWN})


class Event(msgspec.Struct, frozen=True, gc=False, tag_field="type", kw_only=True):
    """A platform event as a fold reads it: a CloudEvent's aggregate attributes and typed data.

    ``subject`` is the aggregate id, ``aggregateversion`` (an extension
    attribute) its 1-based, gap-free version; ``time`` is RFC 3339 as written
    (the platform writes ``YYYY-MM-DDTHH:MM:SS.ffffffZ``). Decoded, an event
    is of one subclass per type (the tag), its ``data`` of the current
    version. The other CloudEvents attributes are skipped without being
    read (a replay reads millions); ``CloudEvent`` has them all.
    """

    subject: str
    aggregateversion: int
    time: str
    data: EventData
    dataschema: str | msgspec.UnsetType = msgspec.UNSET

    @property
    def type(self) -> str:
        """The CloudEvents ``type`` (the union's tag)."""
        return self.data.type


class CloudEvent(Event, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True):
    """A structured-mode CloudEvents 1.0 event of this platform, every attribute of it."""

    id: str
    source: str
    specversion: str = "1.0"
    datacontenttype: str = "application/json"

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready builtins (the CloudEvent as it travels)."""
        built: dict[str, Any] = msgspec.to_builtins(self)
        return built

    def to_json(self) -> bytes:
        return _encoder.encode(self)


_encoder = msgspec.json.Encoder()
E = TypeVar("E", bound=Event)


def _upcast_on_decode(data_type: type[EventData]) -> Callable[[Event], None]:
    """The ``__post_init__`` of a versioned type's event: its data read as the current version.

    msgspec calls it as it decodes (or converts) each such event, so the upcast
    costs nothing to events of other types: no pass over a decoded chunk
    looks for the ones to upcast.
    """

    def __post_init__(self: Event) -> None:
        # Built from the current data (``new``, ``structs.replace``): nothing to do.
        if type(self.data) is not data_type:
            data = _current_data(data_type, self.dataschema, self.data)
            force_setattr(self, "data", data)
            force_setattr(self, "dataschema", schema_uri(data_type.type, data_type.version))

    return __post_init__


def _event_class(data: type[EventData], base: type[E], suffix: str) -> type[E]:
    # A type that had older versions decodes its data as builtins first
    # (the dataschema says which shape they have), then is upcast.
    data_type: Any = data if not data.upcasts else Any
    namespace = {"__post_init__": _upcast_on_decode(data)} if data.upcasts else None
    event_class: type[E] = msgspec.defstruct(  # type: ignore[assignment]
        f"{data.__name__}{suffix}",
        [("data", data_type)],
        bases=(base,),
        tag=data.type,
        frozen=True,
        gc=False,
        kw_only=True,
        module=__name__,
        namespace=namespace,
    )
    return event_class


class _Union(Generic[E]):
    """One subclass of ``base`` per type, and their tagged union's decoders."""

    def __init__(self, base: type[E], suffix: str) -> None:
        self.classes = {t: _event_class(d, base, suffix) for t, d in DATA_TYPES.items()}
        union: Any = None
        for cls in self.classes.values():
            union = cls if union is None else union | cls
        self.union = union
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)


_FOLDED = _Union(Event, "Record")
_WHOLE = _Union(CloudEvent, "Event")
# ``dataschema`` -> (type, version) of every version this code reads.
_SCHEMAS: dict[str, tuple[str, int]] = {
    schema_uri(t, v): (t, v) for t, d in DATA_TYPES.items() for v in (*d.upcasts, d.version)
}


def schema_version(event_type: str, dataschema: str | msgspec.UnsetType | None) -> int:
    """The data version an event of ``event_type`` declares; UnknownEventVersion if unknown."""
    if dataschema is None or dataschema is msgspec.UNSET:
        return 1
    known = _SCHEMAS.get(str(dataschema))
    if known is None or known[0] != event_type:
        raise UnknownEventVersion(
            f"{event_type} with dataschema {dataschema!r}: not a version this code reads "
            f"(it reads {', '.join(u for u, (t, _) in _SCHEMAS.items() if t == event_type)}"
            " or none, for version 1)"
        )
    return known[1]


def _current_data(
    data_type: type[EventData], dataschema: str | msgspec.UnsetType | None, raw: Any
) -> EventData:
    """``raw`` (the data of the version ``dataschema`` names) as the current version."""
    version = schema_version(data_type.type, dataschema)
    if version == data_type.version:
        return msgspec.convert(raw, data_type)
    step = data_type.upcasts.get(version)
    if step is None:
        raise UnknownEventVersion(f"{data_type.type} version {version} has no upcaster")
    data = step.to_next(msgspec.convert(raw, step.shape))
    version += 1
    while version < data_type.version:
        data = data_type.upcasts[version].to_next(data)
        version += 1
    current: EventData = data
    return current


def _unknown_version(exc: msgspec.ValidationError) -> None:
    """Raise the UnknownEventVersion msgspec wrapped (as it wraps any error of a __post_init__)."""
    if isinstance(exc.__cause__, UnknownEventVersion):
        raise exc.__cause__ from None


def decode_event(raw: bytes | str) -> Event:
    """One CloudEvent JSON document as a fold reads it, of the current version.

    Raises msgspec.ValidationError/DecodeError for anything that is not an
    event of a known type, UnknownEventVersion for an unknown ``dataschema``.
    """
    try:
        event: Event = _FOLDED.decoder.decode(raw)
    except msgspec.ValidationError as exc:
        _unknown_version(exc)
        raise
    return event


def decode_lines(raw: bytes | str) -> list[Event]:
    """Every event of an NDJSON buffer (blank lines skipped); one bad line fails the call."""
    try:
        events: list[Event] = _FOLDED.decoder.decode_lines(raw)
    except msgspec.ValidationError as exc:
        _unknown_version(exc)
        raise
    return events


def from_mapping(event: Mapping[str, Any]) -> Event:
    """An Event (as a fold reads it) from an already parsed CloudEvent dict, current version."""
    try:
        decoded: Event = msgspec.convert(event, _FOLDED.union, strict=True)
    except msgspec.ValidationError as exc:
        _unknown_version(exc)
        raise
    return decoded


def record_class(data_type: type[EventData]) -> type[Event]:
    """The class of a decoded event of ``data_type`` (``decode_event``, ``decode_lines``).

    A fold's hot path can test an event's own class against it and then read
    its attributes at sites that each see one class, which CPython's
    specialising interpreter caches (a site that sees several classes of the
    union takes the slow path on every read).
    """
    record: type[Event] = _FOLDED.classes[data_type.type]
    return record


def decode_cloud_event(raw: bytes | str | Mapping[str, Any]) -> CloudEvent:
    """A whole CloudEvent (JSON, or a parsed dict), of the current version.

    Unknown attributes are refused; errors as ``decode_event``'s.
    """
    try:
        event: CloudEvent = (
            msgspec.convert(raw, _WHOLE.union, strict=True)
            if isinstance(raw, Mapping)
            else _WHOLE.decoder.decode(raw)
        )
    except msgspec.ValidationError as exc:
        _unknown_version(exc)
        raise
    return event


def current_mapping(event: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudEvent dict as the current version of its type writes it (``to_dict``)."""
    return decode_cloud_event(event).to_dict()


def new(data: EventData, **envelope: Any) -> CloudEvent:
    """A CloudEvent of ``data``'s type: the catalogue's only constructor of envelopes."""
    data_type = type(data)
    cls = _WHOLE.classes[data_type.type]
    if data_type.version > 1:
        envelope["dataschema"] = schema_uri(data_type.type, data_type.version)
    return cls(source=data_type.source, data=data, **envelope)
