"""Account projection: owner, currency, balance and version per account.

``evolve`` is the reference fold (pure, frozen state); the projector Lambda
and point-in-time reads use it. ``AccountsReducer`` is the replay engine's
hot path: the same rules on mutable rows and integer cents, checked against
``evolve`` by the property tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from msgspec.structs import replace

from projections.catalogue import (
    ACCOUNT_TYPES,
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    Event,
    record_class,
)
from projections.cents import cents_to_decimal, format_cents, to_cents
from projections.errors import NegativeBalance, ProjectionError
from projections.read_model import ReadModelFold
from projections.replay import replay

__all__ = [
    "ACCOUNTS",
    "ACCOUNT_TYPES",
    "Account",
    "AccountsProjection",
    "AccountsReducer",
    "account_at",
    "account_key",
    "deposited",
    "evolve",
    "fold",
    "read_model",
    "withdraw_cents",
    "withdrawn",
]


class Account(msgspec.Struct, frozen=True):
    """An account's state after its events up to ``version``."""

    id: str
    owner_id: str
    currency: str
    balance_cents: int = 0
    version: int = 0

    @property
    def balance(self) -> Decimal:
        return cents_to_decimal(self.balance_cents)

    def to_dict(self) -> dict[str, Any]:
        """The API shape: ``{"id","owner_id","currency","balance","version"}``."""
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "currency": self.currency,
            "balance": format_cents(self.balance_cents),
            "version": self.version,
        }


def _opened(state: Account | None, event: Event, data: AccountOpened) -> Account:
    if state is not None:
        raise ProjectionError(f"account {state.id} opened twice")
    return Account(
        id=event.subject,
        owner_id=data.owner_id,
        currency=data.currency,
        version=event.aggregateversion,
    )


def withdraw_cents(account_id: str, version: int, balance_cents: int, amount_cents: int) -> int:
    """The balance after withdrawing ``amount_cents``: the overdraft rule, written once.

    NegativeBalance when the withdrawal exceeds the balance. The fold, the
    replay reducer, the statements fold and the withdraw command all use it.
    """
    if amount_cents > balance_cents:
        raise NegativeBalance(account_id, version, balance_cents, amount_cents)
    return balance_cents - amount_cents


def deposited(account: Account, amount_cents: int, version: int) -> Account:
    """``account`` after a deposit of ``amount_cents`` at ``version``."""
    return replace(account, balance_cents=account.balance_cents + amount_cents, version=version)


def withdrawn(account: Account, amount_cents: int, version: int) -> Account:
    """``account`` after a withdrawal at ``version``; NegativeBalance past the balance."""
    balance = withdraw_cents(account.id, version, account.balance_cents, amount_cents)
    return replace(account, balance_cents=balance, version=version)


def _existing(state: Account | None, event: Event) -> Account:
    if state is None:
        raise ProjectionError(f"{event.type} for unopened account {event.subject}")
    return state


def _deposited(state: Account | None, event: Event, data: AccountDeposited) -> Account:
    return deposited(_existing(state, event), to_cents(data.amount), event.aggregateversion)


def _withdrawn(state: Account | None, event: Event, data: AccountWithdrawn) -> Account:
    return withdrawn(_existing(state, event), to_cents(data.amount), event.aggregateversion)


_HANDLERS: dict[type[Any], Callable[[Account | None, Event, Any], Account]] = {
    AccountOpened: _opened,
    AccountDeposited: _deposited,
    AccountWithdrawn: _withdrawn,
}


def evolve(state: Account | None, event: Event) -> Account | None:
    """Apply one event to an account; other event types leave it as is.

    Raises NegativeBalance for a withdrawal past the balance and
    ProjectionError for events that cannot follow ``state``.
    """
    data = event.data
    handler = _HANDLERS.get(data.__class__)
    return state if handler is None else handler(state, event, data)


def fold(events: Iterable[Event], state: Account | None = None) -> Account | None:
    """Fold an aggregate's events, in version order, from ``state``."""
    for event in events:
        state = evolve(state, event)
    return state


def account_at(
    raw_events: Iterable[bytes | str], account_id: str, at: datetime | str
) -> Account | None:
    """The account as of ``at``: its ledger events with ``time <= at``, folded."""
    return replay(raw_events, ACCOUNTS, until=at).states.get(account_id)


# Replay rows are ``[version, owner_id, currency, cents]``; the engine owns row[0].
_OWNER, _CURRENCY, _CENTS = 1, 2, 3


# The classes of decoded account events (``apply`` dispatches on them).
_DEPOSITED_RECORD = record_class(AccountDeposited)
_WITHDRAWN_RECORD = record_class(AccountWithdrawn)


class AccountsReducer:
    """Replay accumulator: the account rules on mutable rows and integer cents."""

    # This runs once per replayed event, so it avoids every avoidable lookup and call.
    # It tests the event's own class first: each attribute read below then sees
    # one class, and CPython caches such reads; a read whose site sees the
    # union's several classes (``event.data`` before the test) is a slow lookup.
    @staticmethod
    def apply(row: list[Any], event: Event) -> None:
        """Apply the aggregate's next event to its row."""
        kind = type(event)
        if kind is _DEPOSITED_RECORD:
            text: str = event.data.amount  # type: ignore[attr-defined]
            withdrawal = False
        elif kind is _WITHDRAWN_RECORD:
            text = event.data.amount  # type: ignore[attr-defined]
            withdrawal = True
        else:
            # Opened, another type, or an event not decoded here (a CloudEvent).
            data: Any = event.data
            data_type = type(data)
            if data_type is AccountOpened:
                if len(row) != 1:
                    raise ProjectionError(f"account {event.subject} opened twice")
                row.extend((data.owner_id, data.currency, 0))
                return
            if data_type is not AccountDeposited and data_type is not AccountWithdrawn:
                return
            text = data.amount
            withdrawal = data_type is AccountWithdrawn
        # to_cents inlined for the contract's spelling (exactly two decimals);
        # anything else takes the exact Decimal route.
        try:
            if text[-3] != "." or text[0] == "-":
                raise ValueError(text)
            amount = int(text.replace(".", "", 1))
        except (ValueError, IndexError):
            amount = to_cents(text)
        try:
            balance = row[3]  # _CENTS, as a literal: no global lookup
        except IndexError:
            raise ProjectionError(f"{event.type} for unopened account {event.subject}") from None
        if withdrawal:
            # row[0] is the version being applied (the engine sets it first).
            row[3] = withdraw_cents(event.subject, row[0], balance, amount)
        else:
            row[3] = balance + amount

    @staticmethod
    def partial() -> None:
        """Nothing but the rows: a parallel replay's parts merge by their rows."""
        return None

    @staticmethod
    def absorb(partial: None) -> None:
        """Nothing to merge besides the rows."""

    @staticmethod
    def positions(rows: Mapping[str, list[Any]]) -> dict[str, dict[str, int]]:
        """Per account: its own last version."""
        return {key: {key: row[0]} for key, row in rows.items() if len(row) == 4}

    @staticmethod
    def finish(rows: Mapping[str, list[Any]]) -> dict[str, Account]:
        """The accounts among the replayed aggregates."""
        return {
            key: Account(key, row[_OWNER], row[_CURRENCY], row[_CENTS], row[0])
            for key, row in rows.items()
            if len(row) == 4
        }


class AccountsProjection(msgspec.Struct, frozen=True):
    """The account read model as a replayable projection."""

    name: str = "accounts"

    def reducer(self) -> AccountsReducer:
        return AccountsReducer()


ACCOUNTS = AccountsProjection()


def account_key(event: Event) -> str | None:
    """The account an event changes (its subject), or None for other events."""
    return event.subject if event.type in ACCOUNT_TYPES else None


def _item(account: Account) -> dict[str, Any]:
    return {**account.to_dict(), "balance_cents": account.balance_cents}


def _from_item(item: Mapping[str, Any]) -> Account:
    return Account(
        id=item["id"],
        owner_id=item["owner_id"],
        currency=item["currency"],
        balance_cents=int(item["balance_cents"]),
        version=int(item["version"]),
    )


def read_model(settings: object = None) -> ReadModelFold[Account]:
    """The accounts read model (declared in chalicelib.resources.READ_MODELS)."""
    return ReadModelFold(
        key=account_key, evolve=evolve, to_item=_item, from_item=_from_item, projection=ACCOUNTS
    )
