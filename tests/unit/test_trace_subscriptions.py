"""ops.py trace's reading of the declared filter policies agrees with SNS's (moto's matcher)."""

from __future__ import annotations

import pytest
from moto.sns.utils import FilterPolicyMatcher

from chalicelib import resources
from chalicelib.domain.events import (
    AccountDeposited,
    Consents,
    ConsentsChanged,
    EventData,
    LoyaltyJoined,
    LoyaltyLeft,
    UserCreated,
    UserErased,
    new_event,
)
from chalicelib.service.fanout import message_attributes
from operations.subscriptions import UnsupportedFilterPolicy, policy_matches, receives

EVENTS: list[EventData] = [
    *(
        UserCreated(
            user_id="u",
            name="n",
            lastname="l",
            email="u@example.com",
            address="a",
            loyalty=loyalty,
            marketing=marketing,
        )
        for loyalty in (True, False)
        for marketing in (True, False)
    ),
    LoyaltyJoined(user_id="u"),
    LoyaltyLeft(user_id="u"),
    ConsentsChanged(user_id="u", marketing=True, previous=Consents(marketing=False)),
    *(
        UserErased(user_id="u", loyalty=loyalty, marketing=marketing)
        for loyalty in (True, False)
        for marketing in (True, False)
    ),
]


@pytest.mark.parametrize("data", EVENTS, ids=lambda d: f"{type(d).__name__}")
@pytest.mark.parametrize("subscriber", resources.SUBSCRIBERS, ids=lambda s: s.key)
def test_a_subscriber_receives_a_user_event_iff_sns_would_deliver_it(
    subscriber: resources.Subscriber, data: EventData
) -> None:
    # GIVEN a user event as the ledger holds it, and the attributes the fan-out sends
    event = new_event(data, subject="u", version=1)
    attributes = {
        name: {"Type": value["DataType"], "Value": value["StringValue"]}
        for name, value in message_attributes(event).items()
    }
    sns = FilterPolicyMatcher(subscriber.queue.filter_policy, "MessageAttributes")
    # WHEN the trace asks whether the subscriber gets it THEN it answers as SNS delivers
    assert receives(subscriber, event.to_dict()) == sns.matches(attributes, "")


def test_events_that_are_not_fanned_out_reach_no_subscriber() -> None:
    deposit = new_event(AccountDeposited(account_id="a", amount="1.00"), subject="a", version=2)
    assert not any(receives(s, deposit.to_dict()) for s in resources.SUBSCRIBERS)


def test_a_policy_operator_it_does_not_know_is_refused_not_guessed() -> None:
    with pytest.raises(UnsupportedFilterPolicy):
        policy_matches({"amount": [{"numeric": [">", 0]}]}, {"amount": "1"})
