"""Whether a subscriber is sent an event: its declared SNS filter policy, evaluated.

``ops.py trace`` tells "not subscribed" (the filter policy keeps the event
away, as designed) from "pending or failed" (the event should have arrived).
The policies are those declared in chalicelib/resources.py, matched against
the message attributes the fan-out publishes with the event. Only the
policy syntax the declarations use is evaluated (exact strings, ``prefix``,
a top-level ``$or``); anything else raises, so a new operator in a
declaration is noticed here rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain.events import parse_event
from chalicelib.resources import Subscriber
from chalicelib.service.fanout import FANOUT_TYPE_PREFIX, message_attributes

__all__ = ["UnsupportedFilterPolicy", "policy_matches", "receives"]


class UnsupportedFilterPolicy(ValueError):
    """A filter policy uses syntax this evaluator does not implement."""


def _value_matches(condition: Any, value: str | None) -> bool:
    if isinstance(condition, str):
        return value == condition
    if isinstance(condition, Mapping) and set(condition) == {"prefix"}:
        return value is not None and value.startswith(str(condition["prefix"]))
    raise UnsupportedFilterPolicy(f"filter condition {condition!r}")


def policy_matches(policy: Mapping[str, Any], attributes: Mapping[str, str]) -> bool:
    """Whether SNS would deliver a message with ``attributes`` under ``policy``.

    Every key must match one of its conditions; ``$or`` holds alternatives.
    """
    for key, conditions in policy.items():
        if key == "$or":
            if not any(policy_matches(option, attributes) for option in conditions):
                return False
            continue
        if not isinstance(conditions, list):
            raise UnsupportedFilterPolicy(f"filter on {key!r}: {conditions!r}")
        if not any(_value_matches(c, attributes.get(key)) for c in conditions):
            return False
    return True


def receives(subscriber: Subscriber, event: Mapping[str, Any]) -> bool:
    """Whether the fan-out sends ``event`` (a ledger event as JSON) to ``subscriber``."""
    if not str(event.get("type", "")).startswith(FANOUT_TYPE_PREFIX):
        return False  # only user events reach the topic
    attributes = {
        name: value["StringValue"]
        for name, value in message_attributes(parse_event(dict(event))).items()
    }
    return policy_matches(subscriber.queue.filter_policy, attributes)
