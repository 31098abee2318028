"""The stores several roles share, built from settings and the boto3 getters."""

from __future__ import annotations

from chalicelib import aws
from chalicelib.ledger import EventLedger
from chalicelib.read_models import ReadModelStore
from chalicelib.settings import get_settings
from projections.loyalty import LoyaltyPolicy

__all__ = ["ledger", "read_models"]


def ledger() -> EventLedger:
    """The event ledger (the source of truth)."""
    return EventLedger(aws.table("ledger"))


def read_models() -> ReadModelStore:
    """The account and loyalty read models, with the configured loyalty policy."""
    policy = LoyaltyPolicy(early_adopter_count=get_settings().early_adopter_count)
    return ReadModelStore(aws.table("read_models"), policy)
