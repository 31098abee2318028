"""The user aggregate: its state as a fold of its events, and its lifecycle commands.

Pure: no I/O and no clock. ``evolve`` folds one user event into the state;
``decide`` turns a command into the event data to append (nothing when the
command asks for the current value, so repeating it appends nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict, StrictBool

from chalicelib.events import (
    CloudEvent,
    Consents,
    ConsentsChanged,
    EventData,
    LoyaltyJoined,
    LoyaltyLeft,
    UserCreated,
    UserErased,
)
from chalicelib.exceptions import InvalidEvent, NotFound

__all__ = [
    "SetConsents",
    "SetLoyalty",
    "UserCommand",
    "UserState",
    "decide",
    "evolve",
    "fold",
]


class SetLoyalty(BaseModel):
    """The body of ``PUT /users/{id}/loyalty``."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    member: StrictBool


class SetConsents(BaseModel):
    """The body of ``PUT /users/{id}/consents``."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    marketing: StrictBool


UserCommand = SetLoyalty | SetConsents


@dataclass(frozen=True, slots=True)
class UserState:
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


def decide(state: UserState | None, command: UserCommand) -> list[EventData]:
    """The events ``command`` produces; NotFound for an unknown or erased user."""
    if state is None or state.erased:
        raise NotFound("user not found")
    if isinstance(command, SetLoyalty):
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
