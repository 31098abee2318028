"""What the API's route groups share: the command runner, the user registry, idempotency keys.

Not a role of its own: imported by the route groups (roots.users,
roots.accounts, roots.consumer_views) that need it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from chalicelib.adapters import aws
from chalicelib.adapters.dynamo_unit_of_work import DynamoItems, DynamoUnitOfWork
from chalicelib.adapters.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKey,
    IdempotencyStore,
    fingerprint,
)
from chalicelib.adapters.ledger import EventLedger
from chalicelib.domain.access import Caller
from chalicelib.domain.exceptions import ValidationFailed
from chalicelib.entrypoints.roots import vault
from chalicelib.service.commands import CommandRunner
from chalicelib.service.users import UserRegistry
from chalicelib.settings import get_settings

__all__ = ["idempotency_key", "ledger", "runner", "users"]


def ledger() -> EventLedger:
    """The event ledger."""
    # Not roots.stores.ledger: that module imports every read model, which a command
    # route does not read.
    return EventLedger(aws.table("ledger"))


def runner() -> CommandRunner:
    """Runs commands against the ledger, with the idempotency store."""
    store = IdempotencyStore(aws.table("idempotency"), get_settings().idempotency_ttl_seconds)
    return CommandRunner(DynamoUnitOfWork(aws.table("ledger"), store))


def users() -> UserRegistry:
    """The registered users (personal fields sealed with the person's data key)."""
    return UserRegistry(DynamoItems(aws.table("users")), ledger(), runner(), vault.data_keys())


def idempotency_key(
    caller: Caller, headers: Mapping[str, str], request: BaseModel | None = None
) -> IdempotencyKey | None:
    """The caller's Idempotency-Key with the fingerprint of the (validated) request body."""
    key = headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
            details=[
                {
                    "field": "Idempotency-Key",
                    "message": f"must have 1 to {MAX_KEY_LENGTH} characters",
                }
            ],
        )
    body = None if request is None else request.model_dump(mode="json")
    return IdempotencyKey(caller=caller.sub, key=key, fingerprint=fingerprint(body))
