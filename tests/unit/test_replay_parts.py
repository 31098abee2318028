"""A replay folded in parts of disjoint aggregates and merged equals one replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.events import (
    AccountDeposited,
    AccountOpened,
    LoyaltyJoined,
    PurchaseMade,
    UserCreated,
    new_event,
)
from projections.accounts import ACCOUNTS
from projections.errors import ProjectionError
from projections.loyalty import LoyaltyPolicy, LoyaltyProjection
from projections.read_model import FoldProjection
from projections.replay import Filtered, merge_parts, replay, replay_part

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def events() -> list[Any]:
    out = []
    for n in range(6):
        user = f"u{n}"
        created = UserCreated(
            user_id=user, name="A", lastname="B", email=f"{user}@example.com", address="x"
        )
        out.append(new_event(created, subject=user, version=1, time=T0 + timedelta(hours=n)))
        # Purchases before and after joining, each its own aggregate.
        for k in range(3):
            bought = PurchaseMade(
                user_id=user, order_id=f"o{n}{k}", amount="250.00", currency="EUR"
            )
            out.append(
                new_event(
                    bought, subject=f"p{n}{k}", version=1, time=T0 + timedelta(days=k, hours=n)
                )
            )
        joined = LoyaltyJoined(user_id=user)
        out.append(
            new_event(
                joined, subject=user, version=2, time=T0 + timedelta(days=1, hours=n, minutes=30)
            )
        )
        out.append(
            new_event(
                AccountOpened(account_id=f"a{n}", owner_id=user, currency="EUR"),
                subject=f"a{n}",
                version=1,
                time=T0,
            )
        )
        out.append(
            new_event(
                AccountDeposited(account_id=f"a{n}", amount="1.50"),
                subject=f"a{n}",
                version=2,
                time=T0 + timedelta(hours=1),
            )
        )
    return out


def in_part(index: int, parts: int) -> Callable[[str], bool]:
    """Whether a subject belongs to part ``index`` of ``parts`` (by its last digit)."""
    return lambda subject: int(subject[-1]) % parts == index


def body(items: list[Any]) -> bytes:
    return b"\n".join(e.to_json() for e in items) + b"\n"


@pytest.mark.parametrize(
    "projection", [ACCOUNTS, LoyaltyProjection(LoyaltyPolicy(early_adopter_count=2))]
)
def test_parts_by_subject_merge_into_the_one_process_result(projection: Any) -> None:
    # GIVEN the history split into 3 parts by subject (a user's purchases in other parts)
    history = events()
    whole = replay([body(history)], projection)
    parts = [
        replay_part(
            [Filtered(body(history), in_part(i, 3), count_invalid=i == 0)],
            projection,
        )
        for i in range(3)
    ]
    # WHEN the parts are merged
    merged = merge_parts(projection, parts)
    # THEN states, positions and counts are those of one replay
    assert merged.states == whole.states
    assert merged.positions == whole.positions
    assert (merged.stats.events_read, merged.stats.applied) == (
        whole.stats.events_read,
        whole.stats.applied,
    )


def test_a_fold_whose_key_spans_parts_is_refused_at_the_merge() -> None:
    # GIVEN a fold keyed by currency: one key over many aggregates, folded in two parts
    projection = FoldProjection(
        "by_currency", lambda e: getattr(e.data, "currency", None), lambda s, e: (s or 0) + 1
    )
    history = events()
    parts = [replay_part([Filtered(body(history), in_part(i, 2))], projection) for i in range(2)]
    # WHEN merged THEN the overlap is an error, not a silent overwrite
    with pytest.raises(ProjectionError, match="two parts"):
        merge_parts(projection, parts)
