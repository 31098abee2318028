"""The declared read models' items in the READ_MODELS_TABLE (partition key ``pk``).

Each declared read model (resources.READ_MODELS, bound in
chalicelib.adapters.read_model_catalog) keeps one item per key::

    {"pk": "<item_prefix>#<key>", "kind": "<item_prefix>", ...the state's attributes,
     "version": N, "positions": {aggregate id: N}}

e.g. ``account#<id>`` holds ``id, owner_id, currency, balance, balance_cents``
and ``loyalty#<user_id>`` holds ``user_id, enrolled, points, tier,
purchase_points, settled_points, bonus_points, purchases, registered_at,
horizon, memberships: [[time, bool]], pending: [[time, N]]``.

``positions`` is the last applied version of each aggregate folded into the
item; ``version`` counts the events applied to it (the sum of the
positions), so it grows with every applied event. Writes are conditional on
it: the projector writes only over the exact version it read (optimistic
concurrency), a rebuild only over an older or equal one, so a stale writer
never overwrites a newer state.

A model declared with ``position_items`` (loyalty: each purchase is an
aggregate of its own) keeps in its item only the position of the aggregate
its key names; any other aggregate's position is an item of its own::

    {"pk": "<item_prefix>-position#<aggregate id>", "kind": "<item_prefix>-position",
     "key": <the item's key>, "version": N}

written in the same transaction as the item, only over the version before,
so the item does not grow with the aggregates folded into it and an event is
still applied once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo import cancellation_codes
from chalicelib.adapters.read_model_catalog import ReadModel
from chalicelib.domain.exceptions import ConcurrencyConflict
from projections.catalogue import decode_event
from projections.loyalty import Loyalty, LoyaltyPolicy

__all__ = ["EARLY_ADOPTERS_PK", "ReadModelStore", "Stored", "WriteStats"]

S = TypeVar("S")

EARLY_ADOPTERS_PK = "loyalty-meta#early-adopters"


class Stored(msgspec.Struct, Generic[S], frozen=True):
    """A read model's state and how far into each aggregate it is.

    ``positions`` are those kept in the item; ``revision`` is the count of
    events applied when some positions live in position items (None: their sum).
    """

    state: S
    positions: Mapping[str, int]
    revision: int | None = None

    @property
    def version(self) -> int:
        return sum(self.positions.values()) if self.revision is None else self.revision


class WriteStats(msgspec.Struct):
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


def _over(expected_version: int) -> dict[str, Any]:
    """The condition of a write exactly over ``expected_version`` (0: the item is absent)."""
    if expected_version == 0:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {
        "ConditionExpression": "version = :expected",
        "ExpressionAttributeValues": {":expected": expected_version},
    }


class ReadModelStore:
    """Every declared read model's items, over a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any) -> None:
        self._table = table

    # -- reads -------------------------------------------------------------

    def load(self, model: ReadModel[S], key: str) -> Stored[S] | None:
        """The state stored under ``key`` and its positions, or None."""
        item = self._get(model.pk(key))
        if item is None:
            return None
        return Stored(model.fold.from_item(item), _positions(item), revision=int(item["version"]))

    def position(self, model: ReadModel[S], aggregate_id: str) -> int:
        """``aggregate_id``'s position by its own position item (0: none)."""
        item = self._get(model.position_pk(aggregate_id))
        return 0 if item is None else int(item["version"])

    def applied(self, model: ReadModel[S], key: str, aggregate_id: str) -> int | None:
        """The last version of ``aggregate_id`` folded into item ``key``, or None."""
        stored = self.load(model, key)
        kept = stored.positions if stored else {}
        if model.keeps_in_item(key, aggregate_id, kept):
            return kept.get(aggregate_id)
        return self.position(model, aggregate_id) or None

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

    def save(
        self,
        model: ReadModel[S],
        key: str,
        new: Stored[S],
        expected_version: int,
        position: tuple[str, int] | None = None,
    ) -> None:
        """Write ``new`` if the stored item is still at ``expected_version`` (0: absent).

        ``position`` ``(aggregate id, version)``: the applied event's aggregate
        keeps its position in its own item, written in the same transaction
        and only over the version before (so an event is applied once).
        Raises ConcurrencyConflict if the item or the position moved.
        """
        item = model.item(key, new.state, new.positions, new.version)
        if position is None:
            self._put_exact(item, expected_version)
            return
        aggregate_id, version = position
        marker = model.position_item(aggregate_id, key, version)
        name = self._table.name
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": name, "Item": item, **_over(expected_version)}},
                    {"Put": {"TableName": name, "Item": marker, **_over(version - 1)}},
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException" and any(
                code == "ConditionalCheckFailed" for code in cancellation_codes(dict(exc.response))
            ):
                # The item or the position moved: reload (the event may be a duplicate now).
                raise ConcurrencyConflict(item["pk"]) from exc
            raise

    def _put_exact(self, item: dict[str, Any], expected_version: int) -> None:
        try:
            self._table.put_item(Item=item, **_over(expected_version))
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
        """Write replayed states, skipping items a live projector already moved past.

        For a model with ``position_items``, each written item is followed by
        the position items of the other aggregates folded into it, so the live
        projector skips them when they come again.
        """
        if not model.spec.position_items:
            stats = self._put_all(
                model.item(key, state, positions.get(key, {})) for key, state in states.items()
            )
        else:
            stats = WriteStats()
            for key, state in states.items():
                folded = positions.get(key, {})
                own = {key: folded[key]} if key in folded else {}
                item = model.item(key, state, own, sum(folded.values()))
                if not self._put_rebuilt(item, stats):
                    continue
                with self._table.batch_writer() as batch:
                    for aggregate_id, version in folded.items():
                        if aggregate_id != key:
                            batch.put_item(Item=model.position_item(aggregate_id, key, version))
        if model.fold.after_rebuild is not None:
            model.fold.after_rebuild(states, self)
        return stats

    def _put_all(self, items: Iterable[dict[str, Any]]) -> WriteStats:
        stats = WriteStats()
        for item in items:
            self._put_rebuilt(item, stats)
        return stats

    def _put_rebuilt(self, item: dict[str, Any], stats: WriteStats) -> bool:
        """Put a rebuilt item unless the stored one is newer; counts the outcome in ``stats``."""
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR version <= :version",
                ExpressionAttributeValues={":version": item["version"]},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stats.skipped_newer += 1
            return False
        stats.written += 1
        return True

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
