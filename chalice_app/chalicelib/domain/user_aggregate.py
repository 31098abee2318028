"""The user aggregate: its state as a fold of its events, and its commands.

Pure: no I/O and no clock. ``evolve`` folds one user event into the state;
``decide`` turns a command (register, erase, change loyalty or consents)
into the event data to append (nothing when the command asks for what is
already so: a second erasure, the current loyalty or consent).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain.events import (
    CloudEvent,
    Consents,
    ConsentsChanged,
    LoyaltyJoined,
    LoyaltyLeft,
    UserCreated,
    UserErased,
)
from chalicelib.domain.exceptions import Conflict, InvalidEvent, NotFound

__all__ = [
    "ChangeConsents",
    "ChangeLoyalty",
    "Erase",
    "Register",
    "UserCommand",
    "UserEvent",
    "UserState",
    "decide",
    "evolve",
    "fold",
]


class Register(msgspec.Struct, frozen=True):
    """Create user ``user_id`` (the identity's ``sub``) with its verified ``email``."""

    user_id: str
    name: str
    lastname: str
    email: str
    address: str | dict[str, Any]
    loyalty: bool = False
    marketing: bool = False


class Erase(msgspec.Struct, frozen=True):
    """Erase the person: their key is shredded, ``user.erased`` recorded once."""

    user_id: str


class ChangeLoyalty(msgspec.Struct, frozen=True):
    """Join (``member``) or leave the loyalty programme."""

    user_id: str
    member: bool


class ChangeConsents(msgspec.Struct, frozen=True):
    """Give or withdraw marketing consent."""

    user_id: str
    marketing: bool


UserCommand = Register | Erase | ChangeLoyalty | ChangeConsents
UserEvent = UserCreated | UserErased | LoyaltyJoined | LoyaltyLeft | ConsentsChanged


class UserState(msgspec.Struct, frozen=True):
    """A user after its events up to ``version``."""

    user_id: str
    version: int
    loyalty: bool
    marketing: bool
    # Time of the latest event: the next one is stamped no earlier (times follow versions).
    last_time: datetime
    erased: bool = False


def evolve(state: UserState | None, event: CloudEvent) -> UserState | None:
    """Apply one event of the user aggregate; InvalidEvent if it cannot follow ``state``."""
    data = event.data
    time = datetime.fromisoformat(event.time)
    if isinstance(data, UserCreated):
        if state is not None:
            raise InvalidEvent(f"user {event.subject} created twice")
        return UserState(
            user_id=event.subject,
            version=event.aggregateversion,
            loyalty=data.loyalty,
            marketing=data.marketing,
            last_time=time,
        )
    if state is None:
        raise InvalidEvent(f"{event.type} before user.created for {event.subject}")
    state = replace(state, version=event.aggregateversion, last_time=time)
    if isinstance(data, LoyaltyJoined):
        return replace(state, loyalty=True)
    if isinstance(data, LoyaltyLeft):
        return replace(state, loyalty=False)
    if isinstance(data, ConsentsChanged):
        return replace(state, marketing=data.marketing)
    if isinstance(data, UserErased):
        return replace(state, erased=True)
    raise InvalidEvent(f"{event.type} is not an event of the user aggregate")


def fold(events: Iterable[CloudEvent], state: UserState | None = None) -> UserState | None:
    """Fold a user's events, in version order, from ``state``."""
    for event in events:
        state = evolve(state, event)
    return state


def decide(state: UserState | None, command: UserCommand) -> list[UserEvent]:
    """The events ``command`` produces.

    Conflict(already_registered) to register an identity a second time (even
    once erased); NotFound for any other command about an unknown user, and
    for changes to an erased one. Erasing twice appends nothing.
    """
    if isinstance(command, Register):
        if state is not None:
            raise Conflict("this identity already has a user profile", code="already_registered")
        return [
            UserCreated(
                user_id=command.user_id,
                name=command.name,
                lastname=command.lastname,
                email=command.email,
                address=command.address,
                loyalty=command.loyalty,
                marketing=command.marketing,
            )
        ]
    if state is None:
        raise NotFound(f"user {command.user_id} not found")
    if isinstance(command, Erase):
        if state.erased:
            return []
        return [UserErased(user_id=state.user_id, loyalty=state.loyalty, marketing=state.marketing)]
    if state.erased:
        raise NotFound(f"user {command.user_id} not found")
    if isinstance(command, ChangeLoyalty):
        if command.member == state.loyalty:
            return []
        joined_or_left = LoyaltyJoined if command.member else LoyaltyLeft
        return [joined_or_left(user_id=state.user_id)]
    if command.marketing == state.marketing:
        return []
    return [
        ConsentsChanged(
            user_id=state.user_id,
            marketing=command.marketing,
            previous=Consents(marketing=state.marketing),
        )
    ]
