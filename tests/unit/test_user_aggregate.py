"""The user aggregate's pure rules: its state as a fold, and decide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.events import (
    CloudEvent,
    Consents,
    ConsentsChanged,
    EventData,
    LoyaltyJoined,
    LoyaltyLeft,
    UserCreated,
    UserErased,
    new_event,
)
from chalicelib.domain.exceptions import InvalidEvent, NotFound
from chalicelib.domain.user_aggregate import (
    ChangeConsents,
    ChangeLoyalty,
    UserState,
    decide,
    evolve,
    fold,
)

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _created(loyalty: bool = False, marketing: bool = False) -> CloudEvent:
    data = UserCreated(
        user_id="u",
        name="A",
        lastname="B",
        email="a@example.com",
        address="x",
        loyalty=loyalty,
        marketing=marketing,
    )
    return new_event(data, subject="u", version=1, time=T0)


def _then(state: UserState, data: EventData) -> CloudEvent:
    return new_event(
        data, subject="u", version=state.version + 1, time=T0 + timedelta(minutes=state.version)
    )


def test_the_state_is_the_fold_of_the_events() -> None:
    # GIVEN a registration, a join, a consent and a leave
    state = fold([_created()])
    assert state is not None
    for data in (
        LoyaltyJoined(user_id="u"),
        ConsentsChanged(user_id="u", marketing=True, previous=Consents(marketing=False)),
        LoyaltyLeft(user_id="u"),
    ):
        state = evolve(state, _then(state, data))
        assert state is not None
    # THEN the state is the last value of each flag, at the last version and time
    assert (state.loyalty, state.marketing, state.version, state.erased) == (False, True, 4, False)
    assert state.last_time == T0 + timedelta(minutes=3)


def test_erased_and_unknown_users_are_not_found() -> None:
    state = fold([_created()])
    assert state is not None
    erased = evolve(state, _then(state, UserErased(user_id="u")))
    for gone in (None, erased):
        with pytest.raises(NotFound):
            decide(gone, ChangeLoyalty("u", member=True))


def test_a_lifecycle_event_before_the_registration_is_invalid() -> None:
    with pytest.raises(InvalidEvent):
        evolve(None, new_event(LoyaltyJoined(user_id="u"), subject="u", version=1))


@given(loyalty=st.booleans(), marketing=st.booleans(), member=st.booleans(), wants=st.booleans())
def test_decide_changes_only_what_differs_and_folding_its_events_gives_the_asked_value(
    loyalty: bool, marketing: bool, member: bool, wants: bool
) -> None:
    # GIVEN any registered user
    state = fold([_created(loyalty, marketing)])
    assert state is not None
    for command in (ChangeLoyalty("u", member=member), ChangeConsents("u", marketing=wants)):
        # WHEN a command is decided
        events = decide(state, command)
        asked = command.member if isinstance(command, ChangeLoyalty) else command.marketing
        current = state.loyalty if isinstance(command, ChangeLoyalty) else state.marketing
        # THEN nothing is appended when it asks for the current value, one event otherwise
        assert len(events) == (0 if asked == current else 1)
        after = fold([_then(state, data) for data in events], state)
        assert after is not None
        assert (after.loyalty if isinstance(command, ChangeLoyalty) else after.marketing) == asked
        # AND deciding again on the new state appends nothing
        assert decide(after, command) == []


def test_a_consent_change_carries_the_previous_value() -> None:
    state = fold([_created(marketing=True)])
    (event,) = decide(state, ChangeConsents("u", marketing=False))
    assert msgspec.to_builtins(event) == {
        "user_id": "u",
        "marketing": False,
        "previous": {"marketing": True},
    }
