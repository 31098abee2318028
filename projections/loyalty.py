"""Loyalty projection: points from purchases, tiers, and an early-adopter bonus.

The program can start long after the users and purchases it rewards: a
replay of the whole history computes everyone's points, and the first
``early_adopter_count`` users to register (by their ``user.created`` time,
then id) get a one-off bonus. ``evolve`` is the per-user fold; the bonus is a
whole-population step (``with_early_adopter_bonus``) applied after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.events import PURCHASE_MADE, USER_CREATED
from projections.cents import to_cents
from projections.envelope import Event
from projections.errors import ProjectionError
from projections.timekeys import time_key

__all__ = [
    "DEFAULT_POLICY",
    "LOYALTY_TYPES",
    "TIERS",
    "Loyalty",
    "LoyaltyPolicy",
    "LoyaltyProjection",
    "LoyaltyReducer",
    "early_adopters",
    "evolve",
    "fold",
    "loyalty_key",
    "with_early_adopter_bonus",
]

LOYALTY_TYPES = frozenset({USER_CREATED, PURCHASE_MADE})

# Minimum points per tier, highest first: bronze < 500 <= silver < 2000 <= gold.
TIERS: tuple[tuple[int, str], ...] = ((2000, "gold"), (500, "silver"), (0, "bronze"))

@dataclass(frozen=True)
class LoyaltyPolicy:
    """The program's rules; one place for every number."""

    points_per_unit: int = 1  # per whole currency unit of each purchase
    early_adopter_count: int = 100
    early_adopter_bonus: int = 500
    tiers: tuple[tuple[int, str], ...] = TIERS

    def tier(self, points: int) -> str:
        """The tier of a points balance."""
        for minimum, name in self.tiers:
            if points >= minimum:
                return name
        return self.tiers[-1][1]

    def purchase_points(self, amount: Any) -> int:
        """Points for one purchase: whole units only (12.99 -> 12)."""
        return to_cents(amount) // 100 * self.points_per_unit


DEFAULT_POLICY = LoyaltyPolicy()


@dataclass(frozen=True, slots=True)
class Loyalty:
    """One user's loyalty state."""

    user_id: str
    enrolled: bool = False
    # Canonical time of the user's registration; None until user.created is seen.
    registered_at: str | None = None
    purchase_points: int = 0
    purchases: int = 0
    bonus_points: int = 0

    @property
    def points(self) -> int:
        return self.purchase_points + self.bonus_points

    def to_dict(self, policy: LoyaltyPolicy = DEFAULT_POLICY) -> dict[str, Any]:
        """The API shape: ``{"user_id","enrolled","points","tier"}``."""
        return {
            "user_id": self.user_id,
            "enrolled": self.enrolled,
            "points": self.points,
            "tier": policy.tier(self.points),
        }


def loyalty_key(event: Event) -> str | None:
    """The user whose loyalty state ``event`` changes, or None if it changes none."""
    if event.type in LOYALTY_TYPES:
        return event.data.user_id
    return None


def evolve(
    state: Loyalty | None, event: Event, policy: LoyaltyPolicy = DEFAULT_POLICY
) -> Loyalty | None:
    """Apply one event to a user's loyalty state; other event types leave it as is."""
    kind = event.type
    if kind not in LOYALTY_TYPES:
        return state
    data = event.data
    if data.user_id is None:
        raise ProjectionError(f"{kind} {event.subject} v{event.aggregateversion} has no user_id")
    current = state or Loyalty(user_id=data.user_id)
    if kind == PURCHASE_MADE:
        return replace(
            current,
            purchase_points=current.purchase_points + policy.purchase_points(data.amount),
            purchases=current.purchases + 1,
        )
    return replace(current, enrolled=data.loyalty, registered_at=time_key(event.time))


def fold(
    events: Iterable[Event],
    state: Loyalty | None = None,
    policy: LoyaltyPolicy = DEFAULT_POLICY,
) -> Loyalty | None:
    """Fold one user's events (each aggregate's in version order), without the bonus."""
    for event in events:
        state = evolve(state, event, policy)
    return state


def early_adopters(states: Iterable[Loyalty], count: int) -> list[str]:
    """The first ``count`` registered users, by registration time then id."""
    registered = sorted(
        (s.registered_at, s.user_id) for s in states if s.registered_at is not None
    )
    return [user_id for _, user_id in registered[: max(count, 0)]]


def with_early_adopter_bonus(
    states: Mapping[str, Loyalty], policy: LoyaltyPolicy = DEFAULT_POLICY
) -> dict[str, Loyalty]:
    """Every state with the bonus set for exactly the early adopters (and cleared for others)."""
    chosen = set(early_adopters(states.values(), policy.early_adopter_count))
    return {
        key: replace(state, bonus_points=policy.early_adopter_bonus if key in chosen else 0)
        for key, state in states.items()
    }


@dataclass
class LoyaltyReducer:
    """Replay accumulator; rows are ``[version, user_id]``."""

    policy: LoyaltyPolicy = DEFAULT_POLICY
    users: dict[str, Loyalty] = field(default_factory=dict)

    def __post_init__(self) -> None:
        users, policy = self.users, self.policy

        # Loyalty events are a small share of the stream: the pure fold is fast enough.
        def apply(row: list[Any], event: Event) -> None:
            if event.type not in LOYALTY_TYPES:
                return
            state = evolve(users.get(event.data.user_id or ""), event, policy)
            assert state is not None  # evolve only returns None for other types
            if len(row) == 1:
                row.append(state.user_id)
            users[state.user_id] = state

        self.apply = apply

    def finish(self, rows: Mapping[str, list[Any]]) -> dict[str, Loyalty]:
        return with_early_adopter_bonus(self.users, self.policy)

    @staticmethod
    def positions(rows: Mapping[str, list[Any]]) -> dict[str, dict[str, int]]:
        """Per user: the last version of every aggregate folded into it."""
        out: dict[str, dict[str, int]] = {}
        for subject, row in rows.items():
            if len(row) == 2:
                out.setdefault(row[1], {})[subject] = row[0]
        return out


@dataclass(frozen=True)
class LoyaltyProjection:
    """The loyalty read model as a replayable projection."""

    policy: LoyaltyPolicy = DEFAULT_POLICY
    name: str = "loyalty"

    def reducer(self) -> LoyaltyReducer:
        return LoyaltyReducer(self.policy)
