"""The stores several roles share, built from settings and the boto3 getters."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.ledger import EventLedger
from chalicelib.read_model_catalog import ReadModel
from chalicelib.read_model_catalog import read_model as bind_read_model
from chalicelib.read_models import ReadModelStore
from chalicelib.settings import get_settings

__all__ = ["ledger", "read_model", "read_models"]


def ledger() -> EventLedger:
    """The event ledger (the source of truth)."""
    return EventLedger(aws.table("ledger"))


def read_models() -> ReadModelStore:
    """The store of every declared read model (one table)."""
    return ReadModelStore(aws.table("read_models"))


def read_model(name: str) -> ReadModel[Any]:
    """The read model declared as ``name``, built with the deployment's settings."""
    return bind_read_model(name, get_settings())
