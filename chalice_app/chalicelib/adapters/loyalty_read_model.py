"""The loyalty read model's definition (declared in resources.READ_MODELS).

The fold is projections.loyalty; the item shape is read_models'
``_loyalty_item``/``_loyalty``; the policy comes from the settings. The
declaration keeps each purchase's position in an item of its own and the
fold settles pending purchases at a watermark, so the item stays bounded.
Live, the first users to register claim the early-adopter places as they are projected;
a replay ranks them by registration time at the end (LoyaltyReducer.finish).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec.structs import replace

from chalicelib.adapters.read_model_catalog import STORE_ATTRIBUTES
from chalicelib.adapters.read_models import _loyalty, _loyalty_item
from projections import loyalty
from projections.catalogue import USER_CREATED, Event
from projections.loyalty import DEFAULT_POLICY, Loyalty, LoyaltyPolicy, LoyaltyProjection
from projections.read_model import ReadModelFold, Settling

__all__ = ["read_model"]


def read_model(settings: Any = None) -> ReadModelFold[Loyalty]:
    """The loyalty read model with the settings' early-adopter count."""
    count = getattr(settings, "early_adopter_count", DEFAULT_POLICY.early_adopter_count)
    policy = LoyaltyPolicy(early_adopter_count=count)

    def evolve(state: Loyalty | None, event: Event) -> Loyalty | None:
        return loyalty.evolve(state, event, policy)

    def live_evolve(state: Loyalty | None, event: Event, store: Any) -> Loyalty | None:
        new = evolve(state, event)
        # Live, places go in projection order; a replay re-ranks them by registration time.
        if (
            new is not None
            and event.type == USER_CREATED
            and new.bonus_points == 0
            and store.claim_early_adopter(new.user_id, policy.early_adopter_count)
        ):
            new = replace(new, bonus_points=policy.early_adopter_bonus)
        return new

    def to_item(state: Loyalty) -> dict[str, Any]:
        item = _loyalty_item(state, {}, policy)
        for name in STORE_ATTRIBUTES:
            item.pop(name, None)
        return item

    def from_item(item: Mapping[str, Any]) -> Loyalty:
        return _loyalty(item)

    def after_rebuild(states: Mapping[str, Loyalty], store: Any) -> None:
        store.set_early_adopters(s.user_id for s in states.values() if s.bonus_points > 0)

    return ReadModelFold(
        key=loyalty.loyalty_key,
        evolve=evolve,
        to_item=to_item,
        from_item=from_item,
        projection=LoyaltyProjection(policy),
        live_evolve=live_evolve,
        after_rebuild=after_rebuild,
        # Pending purchases wait on the user's events; the ledger's watermark settles them.
        settling=Settling(due=loyalty.settle_due, settle=loyalty.settle),
    )
