"""Account commands and reads: open, deposit, withdraw, state now and at a time.

State is folded from the ledger with the same pure fold the projector uses
(projections.accounts), starting from a snapshot where one exists. A command
about an account needs its owner to exist as a person (registered, not
erased): otherwise it is NotFound, as for an unknown account or owner. Reads
stay possible, so operators keep seeing the balances of erased people.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import orjson
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from chalicelib.commands import CommandRunner, Decision
from chalicelib.events import (
    ACCOUNT_OPENED,
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    format_time,
    new_event,
)
from chalicelib.exceptions import Conflict, NotFound, ValidationFailed
from chalicelib.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.inputs import ClientId, Currency, parse_instant
from chalicelib.ledger import EventLedger
from chalicelib.money import PositiveAmount, format_money
from projections.accounts import Account, account_at, evolve, fold
from projections.catalogue import decode_event, from_mapping
from projections.errors import NegativeBalance

__all__ = [
    "SNAPSHOT_EVERY",
    "AccountService",
    "OpenAccount",
    "SnapshotStore",
    "Transfer",
    "parse_at",
]


class OpenAccount(BaseModel):
    """The body of ``POST /accounts``; the owner defaults to the caller."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"owner_id": "u-1", "currency": "EUR"}]},
    )
    owner_id: ClientId | None = None
    currency: Currency


class Transfer(BaseModel):
    """The body of a deposit or withdrawal."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"amount": "12.50"}]})
    amount: PositiveAmount


def parse_at(value: str) -> datetime:
    """The ``?at=`` instant (see inputs.parse_instant); ValidationFailed naming ``at``."""
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise ValidationFailed(
            "invalid query parameter 'at'", details=[{"field": "at", "message": str(exc)}]
        ) from None


SNAPSHOT_EVERY = 50


class SnapshotStore:
    """Account snapshots (``snapshot#account#<id>``) so loads fold only the ledger tail."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, account_id: str) -> Account | None:
        item = self._table.get_item(
            Key={"pk": f"snapshot#account#{account_id}"}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return Account(
            item["id"],
            item["owner_id"],
            item["currency"],
            int(item["balance_cents"]),
            int(item["version"]),
        )

    def save(self, account: Account) -> None:
        """Store ``account`` unless a newer snapshot is already there."""
        try:
            self._table.put_item(
                Item={
                    "pk": f"snapshot#account#{account.id}",
                    "id": account.id,
                    "owner_id": account.owner_id,
                    "currency": account.currency,
                    "balance_cents": account.balance_cents,
                    "version": account.version,
                },
                ConditionExpression="attribute_not_exists(pk) OR version < :v",
                ExpressionAttributeValues={":v": account.version},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


class AccountService:
    """Account commands and ledger reads; ``person_exists`` tells whether an owner exists."""

    def __init__(
        self,
        ledger: EventLedger,
        runner: CommandRunner,
        snapshots: SnapshotStore,
        person_exists: Callable[[str], bool],
    ) -> None:
        self._ledger = ledger
        self._runner = runner
        self._snapshots = snapshots
        self._person_exists = person_exists

    def current(self, account_id: str, base: Account | None = None) -> Account:
        """The account folded from the ledger, from ``base`` (a read model or snapshot)
        on; NotFound if it was never opened."""
        after = base.version if base is not None else 0
        tail = self._ledger.raw_events(account_id, after_version=after)
        account = fold((decode_event(raw) for raw in tail), base)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        return account

    def at(self, account_id: str, instant: datetime) -> Account:
        """The account as of ``instant`` (events with time <= instant)."""
        cutoff = format_time(instant)
        account = account_at(self._ledger.raw_events(account_id), account_id, cutoff)
        if account is None:
            raise NotFound(f"account {account_id} did not exist at {cutoff}")
        return account

    def events(self, account_id: str) -> list[dict[str, Any]]:
        """The account's CloudEvents in version order; NotFound if none."""
        events = [orjson.loads(raw) for raw in self._ledger.raw_events(account_id)]
        if not events:
            raise NotFound(f"account {account_id} not found")
        return events

    def owner_of(self, account_id: str) -> str | None:
        """The owner recorded when the account was opened; None for an unknown account."""
        raw = self._ledger.raw_event(account_id, 1)
        if raw is None:
            return None
        event = orjson.loads(raw)
        if event.get("type") != ACCOUNT_OPENED:
            return None
        return str(event["data"]["owner_id"])

    def open(
        self,
        owner_id: str,
        currency: str,
        idempotency_key: IdempotencyKey | None,
    ) -> StoredResponse:
        """Open an account for ``owner_id`` (201); NotFound if no such person exists."""
        if not self._person_exists(owner_id):
            raise NotFound(
                "no such owner",
                details=[{"field": "owner_id", "message": "not a registered user"}],
            )
        account_id = str(uuid.uuid4())

        def decide() -> Decision:
            event = new_event(
                AccountOpened(account_id=account_id, owner_id=owner_id, currency=currency),
                subject=account_id,
                version=1,
            )
            body = Account(account_id, owner_id, currency, 0, 1).to_dict()
            return Decision(response=StoredResponse(Outcome.CREATED, body), events=[event])

        return self._runner.run(decide, scope="POST /accounts", idempotency_key=idempotency_key)

    def deposit(
        self, account_id: str, request: Transfer, idempotency_key: IdempotencyKey | None
    ) -> StoredResponse:
        return self._move(account_id, request.amount, withdraw=False, key=idempotency_key)

    def withdraw(
        self, account_id: str, request: Transfer, idempotency_key: IdempotencyKey | None
    ) -> StoredResponse:
        return self._move(account_id, request.amount, withdraw=True, key=idempotency_key)

    def _move(
        self, account_id: str, amount: Decimal, *, withdraw: bool, key: IdempotencyKey | None
    ) -> StoredResponse:
        def decide() -> Decision:
            account = self.current(account_id, self._snapshots.load(account_id))
            if not self._person_exists(account.owner_id):
                # The owner was erased: the account takes no more commands.
                raise NotFound(f"account {account_id} not found")
            data = (
                AccountWithdrawn(account_id=account_id, amount=amount)
                if withdraw
                else AccountDeposited(account_id=account_id, amount=amount)
            )
            event = new_event(data, subject=account_id, version=account.version + 1)
            # The response's state is the fold's: the balance rule lives in evolve only.
            try:
                # A deposit or withdrawal of an existing account yields an account.
                after = cast(Account, evolve(account, from_mapping(event.to_dict())))
            except NegativeBalance:
                raise Conflict(
                    f"balance {account.to_dict()['balance']} is less than {format_money(amount)}",
                    code="insufficient_funds",
                    details=[{"field": "amount", "message": "exceeds the balance"}],
                ) from None
            body = {
                "event_id": event.id,
                "version": after.version,
                "balance": after.to_dict()["balance"],
            }
            return Decision(response=StoredResponse(Outcome.CREATED, body), events=[event])

        kind = "withdrawals" if withdraw else "deposits"
        response = self._runner.run(
            decide, scope=f"POST /accounts/{account_id}/{kind}", idempotency_key=key
        )
        version = response.body.get("version", 0) if response.outcome is Outcome.CREATED else 0
        if version and version % SNAPSHOT_EVERY == 0:
            # Best effort: a missing snapshot only means a longer tail to fold.
            self._snapshots.save(self.current(account_id, self._snapshots.load(account_id)))
        return response
