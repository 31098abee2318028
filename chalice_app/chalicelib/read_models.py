"""The declared read models' items in the READ_MODELS_TABLE (partition key ``pk``).

Each declared read model (resources.READ_MODELS, bound in
chalicelib.read_model_catalog) keeps one item per key::

    {"pk": "<item_prefix>#<key>", "kind": "<item_prefix>", ...the state's attributes,
     "version": N, "positions": {aggregate id: N}}

e.g. ``account#<id>`` holds ``id, owner_id, currency, balance, balance_cents``
and ``loyalty#<user_id>`` holds ``user_id, enrolled, points, tier,
purchase_points, settled_points, bonus_points, purchases, registered_at,
horizon, memberships: [[time, bool]], pending: [[time, N]]``.

``positions`` is the last applied version of each aggregate folded into the
item; ``version`` is their sum, so it grows with every applied event. Writes
are conditional on it: the projector writes only over the exact version it
read (optimistic concurrency), a rebuild only over an older or equal one, so
a stale writer never overwrites a newer state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from chalicelib.exceptions import ConcurrencyConflict
from chalicelib.read_model_catalog import ReadModel
from projections.envelope import decode_event
from projections.loyalty import Loyalty, LoyaltyPolicy

__all__ = ["EARLY_ADOPTERS_PK", "ReadModelStore", "Stored", "WriteStats"]

S = TypeVar("S")

EARLY_ADOPTERS_PK = "loyalty-meta#early-adopters"


@dataclass(frozen=True)
class Stored(Generic[S]):
    """A read model's state and how far into each aggregate it is."""

    state: S
    positions: Mapping[str, int]

    @property
    def version(self) -> int:
        return sum(self.positions.values())


@dataclass
class WriteStats:
    written: int = 0
    skipped_newer: int = 0


def _loyalty_item(
    state: Loyalty, positions: Mapping[str, int], policy: LoyaltyPolicy
) -> dict[str, Any]:
    item = {
        "pk": f"loyalty#{state.user_id}",
        "kind": "loyalty",
        **state.to_dict(policy),
        "purchase_points": state.purchase_points,
        "settled_points": state.settled_points,
        "bonus_points": state.bonus_points,
        "purchases": state.purchases,
        "memberships": [[time, member] for time, member in state.memberships],
        "pending": [[time, points] for time, points in state.pending],
        "version": sum(positions.values()),
        "positions": dict(positions),
    }
    if state.registered_at is not None:
        item["registered_at"] = state.registered_at
    if state.horizon is not None:
        item["horizon"] = state.horizon
    return item


def _positions(item: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in item.get("positions", {}).items()}


def _loyalty(item: Mapping[str, Any]) -> Loyalty:
    registered_at = item.get("registered_at")
    # Items written before joins and leaves existed: membership was set at registration.
    memberships = item.get("memberships")
    if memberships is None and registered_at is not None:
        memberships = [[registered_at, item["enrolled"]]]
    return Loyalty(
        user_id=item["user_id"],
        enrolled=bool(item["enrolled"]),
        registered_at=item.get("registered_at"),
        # Items written before joins and leaves existed settled every purchase at once.
        settled_points=int(item.get("settled_points", item["purchase_points"])),
        purchases=int(item["purchases"]),
        bonus_points=int(item["bonus_points"]),
        horizon=item.get("horizon", registered_at),
        memberships=tuple((str(t), bool(m)) for t, m in memberships or []),
        pending=tuple((str(t), int(p)) for t, p in item.get("pending", [])),
    )


class ReadModelStore:
    """Every declared read model's items, over a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any) -> None:
        self._table = table

    # -- reads -------------------------------------------------------------

    def load(self, model: ReadModel[S], key: str) -> Stored[S] | None:
        """The state stored under ``key`` and its positions, or None."""
        item = self._get(model.pk(key))
        return None if item is None else Stored(model.fold.from_item(item), _positions(item))

    def state(self, model: ReadModel[S], key: str) -> S | None:
        """The state stored under ``key``, or None."""
        stored = self.load(model, key)
        return None if stored is None else stored.state

    def caught_up(
        self,
        model: ReadModel[S],
        key: str,
        tail: Callable[[str, int], Iterable[bytes | str]],
    ) -> S | None:
        """The state under ``key`` with the events the projector has not applied yet.

        For a model whose key is its aggregate (one aggregate per item):
        ``tail(key, after_version)`` gives that aggregate's ledger events after
        the item's position, folded here, so a read never lags the ledger.
        """
        stored = self.load(model, key)
        state = stored.state if stored else None
        after = stored.positions.get(key, 0) if stored else 0
        for raw in tail(key, after):
            state = model.fold.evolve(state, decode_event(raw))
        return state

    def _get(self, pk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={"pk": pk}, ConsistentRead=True).get(
            "Item"
        )
        return item

    # -- projector writes (exactly over what was read) ----------------------

    def save(self, model: ReadModel[S], key: str, new: Stored[S], expected_version: int) -> None:
        """Write ``new`` if the stored item is still at ``expected_version`` (0: absent).

        Raises ConcurrencyConflict otherwise.
        """
        self._put_exact(model.item(key, new.state, new.positions), expected_version)

    def _put_exact(self, item: dict[str, Any], expected_version: int) -> None:
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": expected_version},
            }
        try:
            self._table.put_item(Item=item, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrencyConflict(item["pk"]) from exc
            raise

    # -- rebuild writes (never over a newer state) ---------------------------

    def write_all(
        self,
        model: ReadModel[S],
        states: Mapping[str, S],
        positions: Mapping[str, Mapping[str, int]],
    ) -> WriteStats:
        """Write replayed states, skipping items a live projector already moved past."""
        stats = self._put_all(
            model.item(key, state, positions.get(key, {})) for key, state in states.items()
        )
        if model.fold.after_rebuild is not None:
            model.fold.after_rebuild(states, self)
        return stats

    def _put_all(self, items: Iterable[dict[str, Any]]) -> WriteStats:
        stats = WriteStats()
        for item in items:
            try:
                self._table.put_item(
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR version <= :version",
                    ExpressionAttributeValues={":version": item["version"]},
                )
                stats.written += 1
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                stats.skipped_newer += 1
        return stats

    # -- early adopters for the live projector --------------------------------

    def claim_early_adopter(self, user_id: str, limit: int) -> bool:
        """Take one of ``limit`` early-adopter places for ``user_id``; idempotent.

        Live, places go in projection order; a replay re-ranks by registration time.
        """
        if limit <= 0:
            return False
        try:
            self._table.update_item(
                Key={"pk": EARLY_ADOPTERS_PK},
                UpdateExpression="ADD #u :user",
                ConditionExpression=(
                    "attribute_not_exists(#u) OR size(#u) < :limit OR contains(#u, :id)"
                ),
                ExpressionAttributeNames={"#u": "users"},
                ExpressionAttributeValues={":user": {user_id}, ":limit": limit, ":id": user_id},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def set_early_adopters(self, user_ids: Iterable[str]) -> None:
        """Replace the early-adopter places (after a rebuild ranked them)."""
        users = set(user_ids)
        if users:
            self._table.put_item(Item={"pk": EARLY_ADOPTERS_PK, "users": users})
        else:
            self._table.delete_item(Key={"pk": EARLY_ADOPTERS_PK})
