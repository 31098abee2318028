"""Account and loyalty read models in the READ_MODELS_TABLE (partition key ``pk``).

Items::

    {"pk": "account#<id>", "kind": "account", "id", "owner_id", "currency",
     "balance": "12.50", "balance_cents": N, "version": N, "positions": {id: N}}
    {"pk": "loyalty#<user_id>", "kind": "loyalty", "user_id", "enrolled", "points",
     "tier", "purchase_points", "settled_points", "bonus_points", "purchases", "registered_at",
     "horizon", "memberships": [[time, bool]], "pending": [[time, N]],
     "version": N, "positions": {user_id: N}}
    {"pk": "loyalty-position#<aggregate id>", "kind": "loyalty-position", "user_id",
     "version": N}

``positions`` is the last applied version of each aggregate folded into the
item; ``version`` counts the events applied to it (the sum of the positions),
so it grows with every applied event. Writes are conditional on it: the
projector writes only over the exact version it read (optimistic
concurrency), a rebuild only over an older or equal one, so a stale writer
never overwrites a newer state.

A loyalty item keeps only its user's own position: a purchase is an
aggregate of its own (one per order), so its position lives in its own
``loyalty-position#`` item, written in the same transaction as the loyalty
item. The loyalty item therefore does not grow with purchases (``pending``
is kept short by ``projections.loyalty.settle``). Positions of other
aggregates that items written before this layout hold stay where they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from chalicelib.dynamo import cancellation_codes
from chalicelib.exceptions import ConcurrencyConflict
from projections.accounts import Account
from projections.loyalty import DEFAULT_POLICY, Loyalty, LoyaltyPolicy

__all__ = ["EARLY_ADOPTERS_PK", "ReadModelStore", "Stored", "WriteStats"]

S = TypeVar("S")

EARLY_ADOPTERS_PK = "loyalty-meta#early-adopters"
LOYALTY_POSITION_PREFIX = "loyalty-position#"


@dataclass(frozen=True)
class Stored(Generic[S]):
    """A read model's state and how far into each aggregate it is.

    ``positions`` are those kept in the item; ``revision`` is the count of
    events applied when some positions live elsewhere (None: their sum).
    """

    state: S
    positions: Mapping[str, int]
    revision: int | None = field(default=None, kw_only=True)

    @property
    def version(self) -> int:
        return sum(self.positions.values()) if self.revision is None else self.revision


@dataclass
class WriteStats:
    written: int = 0
    skipped_newer: int = 0


def _account_item(account: Account, positions: Mapping[str, int]) -> dict[str, Any]:
    return {
        "pk": f"account#{account.id}",
        "kind": "account",
        **account.to_dict(),
        "balance_cents": account.balance_cents,
        "version": sum(positions.values()),
        "positions": dict(positions),
    }


def _loyalty_item(
    state: Loyalty, positions: Mapping[str, int], policy: LoyaltyPolicy, version: int
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
        "version": version,
        "positions": dict(positions),
    }
    if state.registered_at is not None:
        item["registered_at"] = state.registered_at
    if state.horizon is not None:
        item["horizon"] = state.horizon
    return item


def _position_item(aggregate_id: str, user_id: str, version: int) -> dict[str, Any]:
    return {
        "pk": f"{LOYALTY_POSITION_PREFIX}{aggregate_id}",
        "kind": "loyalty-position",
        "user_id": user_id,
        "version": version,
    }


def _positions(item: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in item.get("positions", {}).items()}


def _account(item: Mapping[str, Any]) -> Account:
    return Account(
        id=item["id"],
        owner_id=item["owner_id"],
        currency=item["currency"],
        balance_cents=int(item["balance_cents"]),
        version=int(item["version"]),
    )


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
    """Read models over a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any, policy: LoyaltyPolicy = DEFAULT_POLICY) -> None:
        self._table = table
        self.policy = policy

    # -- reads -------------------------------------------------------------

    def get_account(self, account_id: str) -> Account | None:
        """The account read model, or None."""
        stored = self.load_account(account_id)
        return None if stored is None else stored.state

    def get_loyalty(self, user_id: str) -> dict[str, Any] | None:
        """``{"user_id","enrolled","points","tier"}`` or None for an unknown user."""
        stored = self.load_loyalty(user_id)
        return None if stored is None else stored.state.to_dict(self.policy)

    def load_account(self, account_id: str) -> Stored[Account] | None:
        item = self._get(f"account#{account_id}")
        return None if item is None else Stored(_account(item), _positions(item))

    def load_loyalty(self, user_id: str) -> Stored[Loyalty] | None:
        """The user's loyalty state, its revision and the positions its item keeps."""
        item = self._get(f"loyalty#{user_id}")
        if item is None:
            return None
        return Stored(_loyalty(item), _positions(item), revision=int(item["version"]))

    def loyalty_position(self, aggregate_id: str) -> int:
        """How far the loyalty model is into ``aggregate_id`` by its own position item (0: not)."""
        item = self._get(f"{LOYALTY_POSITION_PREFIX}{aggregate_id}")
        return 0 if item is None else int(item["version"])

    def loyalty_applied(self, user_id: str, aggregate_id: str) -> int | None:
        """The last version of ``aggregate_id`` folded into ``user_id``'s loyalty, or None."""
        stored = self.load_loyalty(user_id)
        if stored is not None and aggregate_id in stored.positions:
            return int(stored.positions[aggregate_id])
        return self.loyalty_position(aggregate_id) or None

    def _get(self, pk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={"pk": pk}, ConsistentRead=True).get(
            "Item"
        )
        return item

    # -- projector writes (exactly over what was read) ----------------------

    def save_account(self, new: Stored[Account], expected_version: int) -> None:
        """Write ``new`` if the stored item is still at ``expected_version`` (0: absent).

        Raises ConcurrencyConflict otherwise.
        """
        self._put_exact(_account_item(new.state, new.positions), expected_version)

    def save_loyalty(
        self,
        new: Stored[Loyalty],
        expected_version: int,
        position: tuple[str, int] | None = None,
    ) -> None:
        """Like save_account, for a loyalty item.

        ``position`` ``(aggregate id, version)``: the applied event's aggregate
        keeps its position in its own item, written in the same transaction
        and only over the version before (so an event is applied once).
        """
        item = _loyalty_item(new.state, new.positions, self.policy, new.version)
        if position is None:
            self._put_exact(item, expected_version)
            return
        aggregate_id, version = position
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": expected_version},
            }
        marker = _position_item(aggregate_id, new.state.user_id, version)
        if version == 1:
            marker_condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            marker_condition = {
                "ConditionExpression": "version = :previous",
                "ExpressionAttributeValues": {":previous": version - 1},
            }
        name = self._table.name
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": name, "Item": item, **condition}},
                    {"Put": {"TableName": name, "Item": marker, **marker_condition}},
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

    def write_accounts(
        self, accounts: Mapping[str, Account], positions: Mapping[str, Mapping[str, int]]
    ) -> WriteStats:
        """Write replayed accounts, skipping items a live projector already moved past."""
        return self._put_all(
            _account_item(a, positions.get(key, {key: a.version})) for key, a in accounts.items()
        )

    def write_loyalty(
        self, states: Mapping[str, Loyalty], positions: Mapping[str, Mapping[str, int]]
    ) -> WriteStats:
        """Write replayed loyalty states and record who the early adopters are.

        Each written item is followed by the position items of the other
        aggregates folded into it (its purchases), so the live projector
        skips them when they come again.
        """
        stats = WriteStats()
        for key, state in states.items():
            folded = positions.get(key, {})
            own = {key: folded[key]} if key in folded else {}
            item = _loyalty_item(state, own, self.policy, sum(folded.values()))
            if not self._put_rebuilt(item, stats):
                continue
            with self._table.batch_writer() as batch:
                for aggregate_id, version in folded.items():
                    if aggregate_id != key:
                        batch.put_item(Item=_position_item(aggregate_id, key, version))
        adopters = [s.user_id for s in states.values() if s.bonus_points > 0]
        self.set_early_adopters(adopters)
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
