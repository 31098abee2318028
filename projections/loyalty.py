"""Loyalty projection: points from purchases, tiers, and an early-adopter bonus.

The program can start long after the users and purchases it rewards: a
replay of the whole history computes everyone's points, and the first
``early_adopter_count`` users to register (by their ``user.created`` time,
then id) get a one-off bonus, members or not. ``evolve`` is the per-user
fold; the bonus is a whole-population step (``with_early_adopter_bonus``)
applied after it.

A purchase earns points only if the user was a member when it was made (by
event time): membership starts with ``user.created`` (``loyalty``) and
changes with ``user.loyalty_joined`` / ``user.loyalty_left``. A purchase is
its own aggregate, so it can reach the fold before or after the user events
around it (other partition key, other shard, archive order). The fold gives
the same state in every such order: it keeps the time of the latest user
event it saw (the *horizon*). A purchase made before the horizon is settled
at once from the membership history; one made at or after it is *pending*
and counts while the user is a member now, until a later user event settles
it. So the live projector and a replay agree whatever order events arrive in,
as long as each aggregate's events come in version order (user event times
never decrease along versions: the write side stamps them so).

``pending`` is what keeps the state order-independent, and it is the only
part that grows with purchases. ``settle`` bounds it: given a *watermark*
(no user event older than it can still arrive, which only the ledger can
tell), the pending purchases made before it are settled. The live projector
settles with the ledger's watermark, so a user's state holds the purchases
of the last few minutes, not of years. Positions (which purchases were
folded) live outside the state, in the read model's store.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from msgspec.structs import replace

from projections.catalogue import (
    PURCHASE_MADE,
    USER_TYPES,
    ConsentsChanged,
    Event,
    LoyaltyJoined,
    LoyaltyLeft,
    PurchaseMade,
    UserCreated,
    UserErased,
)
from projections.cents import to_cents
from projections.errors import ProjectionError
from projections.timekeys import time_key

__all__ = [
    "DEFAULT_POLICY",
    "LOYALTY_TYPES",
    "SETTLE_PENDING_AT",
    "TIERS",
    "Loyalty",
    "LoyaltyPolicy",
    "LoyaltyProjection",
    "LoyaltyReducer",
    "early_adopters",
    "evolve",
    "fold",
    "loyalty_key",
    "settle",
    "settle_due",
    "with_early_adopter_bonus",
    "with_purchases",
]

# Every user event is folded (the horizon moves, and the read model's position
# in the user aggregate stays contiguous); only some change membership.
LOYALTY_TYPES = USER_TYPES | {PURCHASE_MADE}
# Their data (each names the user).
_LOYALTY_DATA = (UserCreated, UserErased, LoyaltyJoined, LoyaltyLeft, ConsentsChanged, PurchaseMade)

# Pending purchases are settled once this many can be: fewer cost little to
# keep, most users never have as many between lifecycle events, and a heavy
# buyer's state costs a ledger read once per this many purchases.
SETTLE_PENDING_AT = 16

# Minimum points per tier, highest first: bronze < 500 <= silver < 2000 <= gold.
TIERS: tuple[tuple[int, str], ...] = ((2000, "gold"), (500, "silver"), (0, "bronze"))


class LoyaltyPolicy(msgspec.Struct, frozen=True):
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


class Loyalty(msgspec.Struct, frozen=True):
    """One user's loyalty state."""

    user_id: str
    enrolled: bool = False
    # Canonical time of the user's registration; None until user.created is seen.
    registered_at: str | None = None
    # Points of the settled purchases: made before the horizon, while a member.
    settled_points: int = 0
    purchases: int = 0
    bonus_points: int = 0
    # Canonical time of the latest user event folded; None before any.
    horizon: str | None = None
    # (time, member) at registration and at every join or leave, in version order.
    memberships: tuple[tuple[str, bool], ...] = ()
    # (time, points) of purchases made at or after the horizon, sorted.
    pending: tuple[tuple[str, int], ...] = ()

    @property
    def pending_points(self) -> int:
        """Points of the pending purchases that count now (the user is a member)."""
        return sum(points for _, points in self.pending) if self.enrolled else 0

    @property
    def purchase_points(self) -> int:
        """Points earned by purchases (settled, and pending ones that count now)."""
        return self.settled_points + self.pending_points

    @property
    def points(self) -> int:
        return self.purchase_points + self.bonus_points

    def member_at(self, time: str) -> bool:
        """Whether the user was a member at ``time`` (canonical), by the known history."""
        # Membership times never decrease (user events come in version order).
        index = bisect_right(self.memberships, time, key=lambda change: change[0])
        return index > 0 and self.memberships[index - 1][1]

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
    data = event.data
    return data.user_id if isinstance(data, _LOYALTY_DATA) else None


def evolve(
    state: Loyalty | None, event: Event, policy: LoyaltyPolicy = DEFAULT_POLICY
) -> Loyalty | None:
    """Apply one event to a user's loyalty state; other event types leave it as is."""
    data = event.data
    if not isinstance(data, _LOYALTY_DATA):
        return state
    current = state or Loyalty(user_id=data.user_id)
    time = time_key(event.time)
    if isinstance(data, PurchaseMade):
        return _purchased(current, time, policy.purchase_points(data.amount))
    current = _advance_horizon(current, time)
    if isinstance(data, UserCreated):
        return _membership(replace(current, registered_at=time), time, data.loyalty)
    if isinstance(data, (LoyaltyJoined, LoyaltyLeft)):
        return _membership(current, time, isinstance(data, LoyaltyJoined))
    return current


def _purchased(state: Loyalty, time: str, points: int) -> Loyalty:
    state = replace(state, purchases=state.purchases + 1)
    if state.horizon is not None and time < state.horizon:
        earned = points if state.member_at(time) else 0
        return replace(state, settled_points=state.settled_points + earned)
    pending = list(state.pending)
    insort(pending, (time, points))  # purchases mostly come in time order: an append
    return replace(state, pending=tuple(pending))


def settle(state: Loyalty, watermark: str) -> Loyalty:
    """Settle the pending purchases made before ``watermark`` (canonical time).

    The caller vouches that every user event older than ``watermark`` is
    already folded into ``state`` (the ledger holds no other); then the
    membership at each of those purchases is known, and a purchase still to
    come from before it is settled at once. Points do not change; the state
    is the one the fold reaches once a user event at ``watermark`` is folded,
    without that event's membership change.
    """
    if state.horizon is not None and watermark <= state.horizon:
        return state
    return _advance_horizon(state, watermark)


def settle_due(state: Loyalty, watermark: str) -> bool:
    """Whether at least SETTLE_PENDING_AT pending purchases were made before ``watermark``."""
    pending = state.pending
    return len(pending) >= SETTLE_PENDING_AT and pending[SETTLE_PENDING_AT - 1][0] < watermark


def with_purchases(state: Loyalty, purchases: Iterable[tuple[str, int]]) -> Loyalty:
    """``state`` with the purchases ``(time, points)`` folded, in O(n log n) for n purchases.

    The same state as folding them one by one (in any order): the replay folds
    a user's purchases in one go after the user's events.
    """
    settled = bought = 0
    pending = list(state.pending)
    horizon = state.horizon
    for time, points in purchases:
        bought += 1
        if horizon is not None and time < horizon:
            settled += points if state.member_at(time) else 0
        else:
            pending.append((time, points))
    pending.sort()
    return replace(
        state,
        purchases=state.purchases + bought,
        settled_points=state.settled_points + settled,
        pending=tuple(pending),
    )


def _advance_horizon(state: Loyalty, time: str) -> Loyalty:
    """Settle the pending purchases made before ``time`` (no membership change is between)."""
    settled = [(t, p) for t, p in state.pending if t < time]
    earned = sum(p for t, p in settled if state.member_at(t))
    horizon = time if state.horizon is None else max(state.horizon, time)
    return replace(
        state,
        horizon=horizon,
        settled_points=state.settled_points + earned,
        pending=state.pending[len(settled) :],
    )


def _membership(state: Loyalty, time: str, member: bool) -> Loyalty:
    return replace(state, enrolled=member, memberships=(*state.memberships, (time, member)))


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
    registered = sorted((s.registered_at, s.user_id) for s in states if s.registered_at is not None)
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


# dict=True: __post_init__ binds ``apply``, a closure over the fields, which is no field.
class LoyaltyReducer(msgspec.Struct, dict=True):
    """Replay accumulator; rows are ``[version, user_id]``.

    User events are folded as they come; each user's purchases are gathered
    and folded in one go at the end (``with_purchases``), which the fold's
    order-independence allows, so a heavy buyer costs O(n log n), not O(n^2).
    With a ``watermark`` every state is settled up to it at the end.
    """

    policy: LoyaltyPolicy = DEFAULT_POLICY
    users: dict[str, Loyalty] = msgspec.field(default_factory=dict)
    watermark: str | None = None
    bought: dict[str, list[tuple[str, int]]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        users, bought, policy = self.users, self.bought, self.policy

        # Loyalty events are a small share of the stream: the pure fold is fast enough.
        def apply(row: list[Any], event: Event) -> None:
            data = event.data
            if not isinstance(data, _LOYALTY_DATA):
                return
            user_id = data.user_id
            if isinstance(data, PurchaseMade):
                points = policy.purchase_points(data.amount)
                bought.setdefault(user_id, []).append((time_key(event.time), points))
            else:
                state = evolve(users.get(user_id), event, policy)
                assert state is not None  # evolve only returns None for other types
                users[user_id] = state
            if len(row) == 1:
                row.append(user_id)

        self.apply = apply

    def finish(self, rows: Mapping[str, list[Any]]) -> dict[str, Loyalty]:
        states = {}
        only_bought = (user_id for user_id in self.bought if user_id not in self.users)
        for user_id in [*self.users, *only_bought]:
            state = self.users.get(user_id) or Loyalty(user_id=user_id)
            state = with_purchases(state, self.bought.get(user_id, ()))
            if self.watermark is not None:
                state = settle(state, self.watermark)
            states[user_id] = state
        return with_early_adopter_bonus(states, self.policy)

    def partial(self) -> dict[str, Loyalty]:
        """The users folded so far, purchases included, before settling and the bonus.

        A parallel replay's part: a user's own events are all in one part (one
        aggregate), but their purchases are aggregates of their own, dealt to any part.
        """
        users = {}
        for user_id in {*self.users, *self.bought}:
            state = self.users.get(user_id) or Loyalty(user_id=user_id)
            users[user_id] = with_purchases(state, self.bought.get(user_id, ()))
        return users

    def absorb(self, partial: Mapping[str, Loyalty]) -> None:
        """Merge another part's users (the fold is the same in every order across aggregates)."""
        for user_id, state in partial.items():
            if state.horizon is None:
                # Purchases only, all pending: folded with this part's at the end.
                self.bought.setdefault(user_id, []).extend(state.pending)
            elif user_id in self.users:
                raise ProjectionError(f"user {user_id}'s events were folded in two parts")
            else:
                self.users[user_id] = state

    @staticmethod
    def positions(rows: Mapping[str, list[Any]]) -> dict[str, dict[str, int]]:
        """Per user: the last version of every aggregate folded into it."""
        out: dict[str, dict[str, int]] = {}
        for subject, row in rows.items():
            if len(row) == 2:
                out.setdefault(row[1], {})[subject] = row[0]
        return out


class LoyaltyProjection(msgspec.Struct, frozen=True):
    """The loyalty read model as a replayable projection."""

    policy: LoyaltyPolicy = DEFAULT_POLICY
    name: str = "loyalty"
    # Settle every state up to this canonical time at the end (see ``settle``).
    watermark: str | None = None

    def reducer(self) -> LoyaltyReducer:
        return LoyaltyReducer(self.policy, watermark=self.watermark)
