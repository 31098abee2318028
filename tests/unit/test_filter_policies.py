"""The fan-out's message attributes against the subscriptions' filter policies."""

from __future__ import annotations

import pytest
from moto.sns.utils import FilterPolicyMatcher

from chalicelib import resources
from chalicelib.events import AccountOpened, UserCreated, new_event
from chalicelib.fanout import FANOUT_TYPE_PREFIX, message_attributes


def _matching_queues(loyalty: bool, marketing: bool) -> set[str]:
    event = new_event(
        UserCreated(
            user_id="u",
            name="n",
            lastname="l",
            email="u@example.com",
            address="a",
            loyalty=loyalty,
            consents={"marketing": marketing},
        ),
        subject="u",
        version=1,
    )
    attributes = {
        name: {"Type": value["DataType"], "Value": value["StringValue"]}
        for name, value in message_attributes(event).items()
    }
    return {
        q.key
        for q in resources.QUEUES
        if FilterPolicyMatcher(q.filter_policy, "MessageAttributes").matches(attributes, "")
    }


@pytest.mark.parametrize(
    ("loyalty", "marketing", "expected"),
    [
        (True, True, {"loyalty", "gdpr", "crm"}),
        (True, False, {"loyalty", "gdpr"}),
        (False, True, {"gdpr", "crm"}),
        (False, False, {"gdpr"}),
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
