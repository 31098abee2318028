"""Generations of a read model: rebuild beside the live items, then switch readers at once.

A read model's items live under ``<item_prefix>#<key>`` (generation 0) or
``<item_prefix>@<g>#<key>`` (generation g). One pointer item in the
read-model table says, per model, which generation readers use (``active``),
which one a rebuild is filling (``building``: the live projector keeps both
current meanwhile) and which ones were replaced but are kept (``previous``)
until ``drop_previous``. Switching is one conditional write of the pointer,
as the search index swaps its alias.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from chalicelib.adapters.read_model_catalog import ReadModel
from chalicelib.domain.exceptions import ConcurrencyConflict

__all__ = ["POINTER_PK", "GenerationStore", "Generations"]

POINTER_PK = "read-models#generations"


class Generations(msgspec.Struct, frozen=True):
    """Where one read model's readers and writers are."""

    active: int = 0
    building: int | None = None
    previous: tuple[int, ...] = ()

    @property
    def written(self) -> tuple[int, ...]:
        """The generations the live projector keeps current."""
        return (self.active,) if self.building is None else (self.active, self.building)


def _names(name: str) -> dict[str, str]:
    return {"#a": f"{name}:active", "#b": f"{name}:building", "#p": f"{name}:previous"}


class GenerationStore:
    """The generation pointer of every read model, over the read-model table."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def all(self) -> dict[str, Generations]:
        """Every model's generations that differ from the default (one read)."""
        item = self._table.get_item(Key={"pk": POINTER_PK}, ConsistentRead=True).get("Item") or {}
        names = {attribute.split(":", 1)[0] for attribute in item if ":" in attribute}
        return {name: self._parse(item, name) for name in names}

    def of(self, name: str) -> Generations:
        """The generations of read model ``name``."""
        return self.all().get(name, Generations())

    @staticmethod
    def _parse(item: dict[str, Any], name: str) -> Generations:
        building = item.get(f"{name}:building")
        return Generations(
            active=int(item.get(f"{name}:active", 0)),
            building=None if building is None else int(building),
            previous=tuple(int(g) for g in item.get(f"{name}:previous", [])),
        )

    def start(self, name: str) -> int:
        """Open a new generation for a rebuild of ``name``; ConcurrencyConflict if one is open."""
        current = self.of(name)
        new = max((current.active, *current.previous)) + 1
        self._update(
            "SET #b = :new",
            "attribute_not_exists(#b)",
            name,
            {":new": new},
        )
        return new

    def switch(self, name: str, generation: int) -> Generations:
        """Make the building ``generation`` active; the active one becomes previous."""
        current = self.of(name)
        if current.building != generation:
            raise ConcurrencyConflict(f"{name}: generation {generation} is not being built")
        self._update(
            "SET #a = :new, #p = list_append(if_not_exists(#p, :none), :old) REMOVE #b",
            "#b = :new AND (attribute_not_exists(#a) OR #a = :was)",
            name,
            {":new": generation, ":old": [current.active], ":none": [], ":was": current.active},
        )
        return self.of(name)

    def forget_previous(self, name: str) -> tuple[int, ...]:
        """Forget the previous generations (after their items were deleted)."""
        previous = self.of(name).previous
        if previous:
            self._update("REMOVE #p", "attribute_exists(#p)", name, {})
        return previous

    def abandon(self, name: str) -> int | None:
        """Close a rebuild left unfinished; its generation becomes previous (to drop)."""
        building = self.of(name).building
        if building is not None:
            self._update(
                "SET #p = list_append(if_not_exists(#p, :none), :old) REMOVE #b",
                "#b = :old_b",
                name,
                {":none": [], ":old": [building], ":old_b": building},
            )
        return building

    def _update(self, expression: str, condition: str, name: str, values: dict[str, Any]) -> None:
        names = {k: v for k, v in _names(name).items() if k in expression or k in condition}
        kwargs: dict[str, Any] = {
            "Key": {"pk": POINTER_PK},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        used = {k: v for k, v in values.items() if k in expression or k in condition}
        if used:
            kwargs["ExpressionAttributeValues"] = used
        try:
            self._table.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrencyConflict(f"{name}: generations changed meanwhile") from exc
            raise

    def items(self, model: ReadModel[Any]) -> Iterator[dict[str, Any]]:
        """Every item of ``model``'s generation (a filtered scan of the table)."""
        return self._scan(model.pk(""))

    def position_items(self, model: ReadModel[Any]) -> Iterator[dict[str, Any]]:
        """Every position item of ``model``'s generation (a model with ``position_items``)."""
        if not model.spec.position_items:
            return iter(())
        return self._scan(model.position_pk(""))

    def _scan(self, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": prefix},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.scan(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def drop(self, model: ReadModel[Any]) -> int:
        """Delete every item (position items too) of ``model``'s generation; how many."""
        deleted = 0
        with self._table.batch_writer() as batch:
            for item in chain(self.items(model), self.position_items(model)):
                batch.delete_item(Key={"pk": item["pk"]})
                deleted += 1
        return deleted
