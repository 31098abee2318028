"""The declared read models (resources.READ_MODELS), each bound to its definition.

A declaration names its fold module as ``"module:function"``; this module
imports it on first use, so a function imports only the folds it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec
from msgspec.structs import replace

from chalicelib import resources
from chalicelib.resources import ReadModelSpec
from projections.catalogue import Event
from projections.read_model import ReadModelFold

__all__ = ["ReadModel", "bind", "read_model", "read_models"]

S = TypeVar("S")

# Attributes every read-model item has besides the state's own.
STORE_ATTRIBUTES = ("pk", "kind", "version", "positions")


class ReadModel(msgspec.Struct, Generic[S], frozen=True):
    """One declared read model: its declaration and its pure definition."""

    spec: ReadModelSpec
    fold: ReadModelFold[S]
    # Which set of items (chalicelib.adapters.read_model_generations); 0 is the first.
    generation: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        """The name, with the generation when it is not the first."""
        return self.name if self.generation == 0 else f"{self.name}@{self.generation}"

    def at(self, generation: int) -> ReadModel[S]:
        """The same read model, at ``generation``."""
        return replace(self, generation=generation)

    def reads(self, event: Event) -> bool:
        """Whether ``event`` is of a type this model folds."""
        return event.type in self.spec.event_types

    def pk(self, key: str) -> str:
        """The item key of state ``key`` in this generation."""
        prefix = self.spec.item_prefix
        return f"{prefix}#{key}" if self.generation == 0 else f"{prefix}@{self.generation}#{key}"

    def position_pk(self, aggregate_id: str) -> str:
        """The item that keeps ``aggregate_id``'s position (a model with ``position_items``)."""
        prefix = f"{self.spec.item_prefix}-position"
        if self.generation:
            prefix = f"{prefix}@{self.generation}"
        return f"{prefix}#{aggregate_id}"

    def keeps_in_item(self, key: str, aggregate_id: str, kept: Mapping[str, int]) -> bool:
        """Whether item ``key`` keeps ``aggregate_id``'s position (else its own item does).

        Items written before a model had ``position_items`` keep what they hold.
        """
        return not self.spec.position_items or aggregate_id == key or aggregate_id in kept

    def item(
        self, key: str, state: S, positions: Mapping[str, int], version: int | None = None
    ) -> dict[str, Any]:
        """The item that stores ``state``.

        ``version`` counts the events applied to it: the sum of the positions
        unless some live in position items.
        """
        return {
            **self.fold.to_item(state),
            "pk": self.pk(key),
            "kind": self.spec.item_prefix,
            "version": sum(positions.values()) if version is None else version,
            "positions": dict(positions),
        }

    def position_item(self, aggregate_id: str, key: str, version: int) -> dict[str, Any]:
        """The item keeping ``aggregate_id``'s position, folded into item ``key``."""
        return {
            "pk": self.position_pk(aggregate_id),
            "kind": f"{self.spec.item_prefix}-position",
            "key": key,
            "version": version,
        }


def bind(spec: ReadModelSpec, settings: Any = None) -> ReadModel[Any]:
    """``spec`` with its definition, built for ``settings``."""
    module_name, _, attribute = spec.fold.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return ReadModel(spec, factory(settings))


def read_model(name: str, settings: Any = None) -> ReadModel[Any]:
    """The read model declared as ``name``; KeyError if none is."""
    return bind(resources.read_model_spec(name), settings)


def read_models(settings: Any = None) -> tuple[ReadModel[Any], ...]:
    """Every declared read model, in declaration order."""
    return tuple(bind(spec, settings) for spec in resources.READ_MODELS)
