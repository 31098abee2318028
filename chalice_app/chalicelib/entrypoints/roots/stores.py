"""The stores several roles share, built from settings and the boto3 getters."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import aws
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.read_model_catalog import ReadModel
from chalicelib.adapters.read_model_catalog import read_model as bind_read_model
from chalicelib.adapters.read_model_catalog import read_models as bind_read_models
from chalicelib.adapters.read_model_generations import GenerationStore
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.settings import get_settings

__all__ = ["generations", "ledger", "live_read_models", "read_model", "read_models"]


def ledger() -> EventLedger:
    """The event ledger (the source of truth)."""
    return EventLedger(aws.table("ledger"))


def read_models() -> ReadModelStore:
    """The store of every declared read model (one table)."""
    return ReadModelStore(aws.table("read_models"))


def generations() -> GenerationStore:
    """Which generation of each read model readers and the projector use."""
    return GenerationStore(aws.table("read_models"))


def read_model(name: str) -> ReadModel[Any]:
    """The read model declared as ``name``, at the generation readers use now."""
    return bind_read_model(name, get_settings()).at(generations().of(name).active)


def live_read_models() -> list[ReadModel[Any]]:
    """Every declared read model at each generation the projector keeps (one pointer read)."""
    pointer = generations().all()
    models = []
    for model in bind_read_models(get_settings()):
        current = pointer.get(model.name)
        for generation in current.written if current else (0,):
            models.append(model.at(generation))
    return models
