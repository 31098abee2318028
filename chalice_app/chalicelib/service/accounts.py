"""Account service: open, deposit, withdraw (account_aggregate decides), and reads.

State is folded from the ledger with the same pure fold the projector uses
(projections.accounts), starting from a snapshot where one exists. A command
about an account needs its owner to exist as a person (registered, not
erased): otherwise it is NotFound, as for an unknown account or owner (a
precondition the service checks when it loads). Reads stay possible, so
operators keep seeing the balances of erased people.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from chalicelib.adapters.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.adapters.unit_of_work import EventStore
from chalicelib.domain import account_aggregate
from chalicelib.domain.account_aggregate import (
    AccountCommand,
    AccountEvent,
    Deposit,
    Open,
    Withdraw,
)
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.events import ACCOUNT_OPENED, format_time, new_event
from chalicelib.domain.exceptions import NotFound, ValidationFailed
from chalicelib.domain.inputs import ClientId, Currency, parse_instant
from chalicelib.domain.money import PositiveAmount
from chalicelib.service.commands import Changes, CommandRunner
from projections.accounts import Account, account_at, fold
from projections.catalogue import decode_event

__all__ = [
    "SNAPSHOT_EVERY",
    "AccountService",
    "OpenAccount",
    "SnapshotStore",
    "Snapshots",
    "Transfer",
    "parse_at",
]


class OpenAccount(BaseModel):
    """The body of ``POST /accounts``; the owner defaults to the caller."""

    # Built on its route's first request: a route builds only its own request model.
    model_config = ConfigDict(
        extra="ignore",
        defer_build=True,
        json_schema_extra={"examples": [{"owner_id": "u-1", "currency": "EUR"}]},
    )
    owner_id: ClientId | None = None
    currency: Currency


class Transfer(BaseModel):
    """The body of a deposit or withdrawal."""

    # Built on its route's first request: a route builds only its own request model.
    model_config = ConfigDict(
        extra="ignore", defer_build=True, json_schema_extra={"examples": [{"amount": "12.50"}]}
    )
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


class Snapshots(Protocol):
    """Where account snapshots are kept (a read model of the write side)."""

    def load(self, account_id: str) -> Account | None: ...

    def save(self, account: Account) -> None: ...


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


class _Accounts:
    """The account commands' load and record (account_aggregate.decide decides)."""

    def __init__(
        self,
        ledger: EventStore,
        snapshots: Snapshots,
        person_exists: Callable[[str], bool],
        clock: Clock,
    ) -> None:
        self._ledger = ledger
        self._snapshots = snapshots
        self._person_exists = person_exists
        self._clock = clock

    def current(self, account_id: str, base: Account | None = None) -> Account | None:
        after = base.version if base is not None else 0
        tail = self._ledger.raw_events(account_id, after_version=after)
        return fold((decode_event(raw) for raw in tail), base)

    def load(self, command: AccountCommand) -> Account | None:
        if isinstance(command, Open):
            # A new id: nothing to fold.
            return None
        account = self.current(command.account_id, self._snapshots.load(command.account_id))
        if account is not None and not self._person_exists(account.owner_id):
            # The owner was erased: the account takes no more commands.
            raise NotFound(f"account {command.account_id} not found")
        return account

    def decide(self, state: Account | None, command: AccountCommand) -> list[AccountEvent]:
        return account_aggregate.decide(state, command)

    def record(
        self, state: Account | None, command: AccountCommand, events: Sequence[AccountEvent]
    ) -> Changes:
        version = state.version if state is not None else 0
        now = self._clock.now()
        envelopes = [
            new_event(data, subject=command.account_id, version=version + i, time=now)
            for i, data in enumerate(events, 1)
        ]
        after = state
        for envelope, data in zip(envelopes, events, strict=True):
            after = account_aggregate.apply(after, data, envelope.aggregateversion)
        assert after is not None  # decide opened it or raised NotFound
        if isinstance(command, Open):
            body = after.to_dict()
        else:
            body = {
                "event_id": envelopes[-1].id,
                "version": after.version,
                "balance": after.to_dict()["balance"],
            }
        return Changes(StoredResponse(Outcome.CREATED, body), envelopes)


class AccountService:
    """Account commands and ledger reads; ``person_exists`` tells whether an owner exists."""

    def __init__(
        self,
        ledger: EventStore,
        runner: CommandRunner,
        snapshots: Snapshots,
        person_exists: Callable[[str], bool],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._ledger = ledger
        self._runner = runner
        self._snapshots = snapshots
        self._person_exists = person_exists
        self._handler = _Accounts(ledger, snapshots, person_exists, clock)

    def current(self, account_id: str, base: Account | None = None) -> Account:
        """The account folded from the ledger, from ``base`` (a read model or snapshot)
        on; NotFound if it was never opened."""
        account = self._handler.current(account_id, base)
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
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None,
    ) -> StoredResponse:
        """Open an account for ``owner_id`` (201); NotFound if no such person exists."""
        if not self._person_exists(owner_id):
            raise NotFound(
                "no such owner",
                details=[{"field": "owner_id", "message": "not a registered user"}],
            )
        command = Open(str(uuid.uuid4()), owner_id, currency)
        return self._runner.run(
            self._handler, command, scope=scope, idempotency_key=idempotency_key
        )

    def deposit(
        self,
        account_id: str,
        request: Transfer,
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None,
    ) -> StoredResponse:
        """Deposit ``request.amount`` (201 with the new version and balance)."""
        return self._run(Deposit(account_id, request.amount), scope, idempotency_key)

    def withdraw(
        self,
        account_id: str,
        request: Transfer,
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None,
    ) -> StoredResponse:
        """Withdraw ``request.amount``; Conflict(insufficient_funds) past the balance."""
        return self._run(Withdraw(account_id, request.amount), scope, idempotency_key)

    def _run(
        self, command: Deposit | Withdraw, scope: str, key: IdempotencyKey | None
    ) -> StoredResponse:
        response = self._runner.run(self._handler, command, scope=scope, idempotency_key=key)
        version = response.body.get("version", 0) if response.outcome is Outcome.CREATED else 0
        if version and version % SNAPSHOT_EVERY == 0:
            # Best effort: a missing snapshot only means a longer tail to fold.
            account_id = command.account_id
            self._snapshots.save(self.current(account_id, self._snapshots.load(account_id)))
        return response
