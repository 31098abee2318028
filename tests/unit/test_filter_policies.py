"""The fan-out's message attributes against the subscriptions' filter policies."""

from __future__ import annotations

import pytest
from moto.sns.utils import FilterPolicyMatcher

from chalicelib import resources
from chalicelib.domain.events import (
    AccountOpened,
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
from chalicelib.service.fanout import FANOUT_TYPE_PREFIX, message_attributes


def _queues_for(event: CloudEvent) -> set[str]:
    attributes = {
        name: {"Type": value["DataType"], "Value": value["StringValue"]}
        for name, value in message_attributes(event).items()
    }
    # Every declared subscriber: a new one fails these tests until its row is written.
    return {
        q.key
        for q in resources.QUEUES
        if FilterPolicyMatcher(q.filter_policy, "MessageAttributes").matches(attributes, "")
    }


def _matching_queues(loyalty: bool, marketing: bool) -> set[str]:
    event = new_event(
        UserCreated(
            user_id="u",
            name="n",
            lastname="l",
            email="u@example.com",
            address="a",
            loyalty=loyalty,
            marketing=marketing,
        ),
        subject="u",
        version=1,
    )
    return _queues_for(event)


@pytest.mark.parametrize(
    ("loyalty", "marketing", "expected"),
    [
        # The welcome email follows every registration.
        (True, True, {"loyalty", "gdpr", "crm", "welcome"}),
        (True, False, {"loyalty", "gdpr", "welcome"}),
        (False, True, {"gdpr", "crm", "welcome"}),
        (False, False, {"gdpr", "welcome"}),
    ],
)
def test_each_user_reaches_exactly_the_consumers_its_flags_select(
    loyalty: bool, marketing: bool, expected: set[str]
) -> None:
    assert _matching_queues(loyalty, marketing) == expected


def test_attributes_are_strings_true_false() -> None:
    event = new_event(
        UserCreated(user_id="u", name="n", lastname="l", email="u@example.com", address="a"),
        subject="u",
        version=1,
    )
    attributes = message_attributes(event)
    assert attributes["loyalty"]["StringValue"] == "false"
    assert attributes["marketing"]["StringValue"] == "false"
    assert attributes["type"]["StringValue"] == "com.example.user.created"


def test_only_user_events_are_fanned_out() -> None:
    account = new_event(
        AccountOpened(account_id="a", owner_id="u", currency="EUR"), subject="a", version=1
    )
    assert not account.type.startswith(FANOUT_TYPE_PREFIX)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Joins and leaves reach loyalty whatever the flags; GDPR hears everything.
        (LoyaltyJoined(user_id="u"), {"loyalty", "gdpr"}),
        (LoyaltyLeft(user_id="u"), {"loyalty", "gdpr"}),
        # Consent changes reach the CRM either way: giving creates, withdrawing deletes.
        (
            ConsentsChanged(user_id="u", marketing=True, previous=Consents(marketing=False)),
            {"gdpr", "crm"},
        ),
        (
            ConsentsChanged(user_id="u", marketing=False, previous=Consents(marketing=True)),
            {"gdpr", "crm"},
        ),
        # An erasure reaches the consumers that hold the person's data now, and
        # identity deletion, which ends the person's Cognito user.
        (UserErased(user_id="u", loyalty=True, marketing=False), {"loyalty", "gdpr", "identity"}),
        (UserErased(user_id="u", loyalty=False, marketing=True), {"gdpr", "crm", "identity"}),
        (UserErased(user_id="u", loyalty=False, marketing=False), {"gdpr", "identity"}),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, EventData) else None,
)
def test_lifecycle_events_reach_exactly_the_consumers_that_follow_them(
    data: EventData, expected: set[str]
) -> None:
    # GIVEN a lifecycle event of user u at version 2
    event = new_event(data, subject="u", version=2)
    # WHEN matched against every subscription's filter policy
    # THEN exactly the expected consumers receive it
    assert _queues_for(event) == expected


def test_a_consent_change_does_not_reach_loyalty_even_for_a_member() -> None:
    # The attributes of a consents_changed say nothing about loyalty, so a member's
    # consent change cannot slip through the loyalty filter.
    change = new_event(
        ConsentsChanged(user_id="u", marketing=True, previous=Consents(marketing=False)),
        subject="u",
        version=2,
    )
    assert "loyalty" not in message_attributes(change)
    assert message_attributes(change)["marketing"]["StringValue"] == "true"
