"""Monthly statements: per account and calendar month (UTC), opening balance, totals, closing.

One state per account holds the month in progress and one short row per
earlier month that had events, so an item grows by at most twelve rows a
year, whatever the number of deposits and withdrawals. A month with no
events after the account was opened has a statement too: no deposits, no
withdrawals, and an opening balance equal to its closing balance (the
closing balance of the latest month before it). A month before the opening
has none. Balances agree with the account fold (``GET /accounts/{id}?at=``)
at every month's end, because a month's key is the UTC month of each
event's time and the write side stamps an account's events in time order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from msgspec.structs import replace

from projections.accounts import withdraw_cents
from projections.catalogue import (
    ACCOUNT_TYPES,
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    Event,
)
from projections.cents import format_cents, to_cents
from projections.errors import ProjectionError
from projections.read_model import FoldProjection, ReadModelFold
from projections.timekeys import time_key

__all__ = [
    "MONTH_PATTERN",
    "MonthTotals",
    "Statements",
    "evolve",
    "read_model",
    "statement",
    "statement_key",
]

# yyyy-mm, years 0001 to 9999, ASCII digits only (use with .match).
MONTH_PATTERN = re.compile(r"(?!0000)[0-9]{4}-(0[1-9]|1[0-2])\Z")


class MonthTotals(msgspec.Struct, frozen=True):
    """One month of an account: balance at its start, and its totals, in cents."""

    month: str
    opening_cents: int
    deposits_cents: int = 0
    withdrawals_cents: int = 0

    @property
    def closing_cents(self) -> int:
        return self.opening_cents + self.deposits_cents - self.withdrawals_cents


class Statements(msgspec.Struct, frozen=True):
    """An account's monthly statements: earlier months with events, and the latest one."""

    account_id: str
    currency: str
    opened_month: str
    current: MonthTotals
    # Months before ``current`` that had events, oldest first.
    closed: tuple[MonthTotals, ...] = ()


def statement_key(event: Event) -> str | None:
    """The account an event changes (its subject), or None for other events."""
    return event.subject if event.type in ACCOUNT_TYPES else None


def _month(event: Event) -> str:
    return time_key(event.time)[:7]


def evolve(state: Statements | None, event: Event) -> Statements | None:
    """Apply one account event; other event types leave the state as is.

    Raises ProjectionError for events that cannot follow ``state`` and
    NegativeBalance for a withdrawal past the balance (projections.accounts'
    overdraft rule, which the account fold uses too).
    """
    data = event.data
    if isinstance(data, AccountOpened):
        if state is not None:
            raise ProjectionError(f"account {state.account_id} opened twice")
        month = _month(event)
        return Statements(event.subject, data.currency, month, MonthTotals(month, 0))
    if not isinstance(data, (AccountDeposited, AccountWithdrawn)):
        return state
    if state is None:
        raise ProjectionError(f"{data.type} for unopened account {event.subject}")
    amount = to_cents(data.amount)
    current = state.current
    # An event stamped in an earlier month than the latest (clock skew) counts in the latest.
    month = max(_month(event), current.month)
    if month != current.month:
        state = replace(
            state,
            closed=(*state.closed, current),
            current=MonthTotals(month, current.closing_cents),
        )
        current = state.current
    if isinstance(data, AccountDeposited):
        return replace(
            state, current=replace(current, deposits_cents=current.deposits_cents + amount)
        )
    withdraw_cents(state.account_id, event.aggregateversion, current.closing_cents, amount)
    return replace(
        state, current=replace(current, withdrawals_cents=current.withdrawals_cents + amount)
    )


def statement(state: Statements, month: str) -> dict[str, str] | None:
    """The API shape of ``month``'s statement; None for a month before the opening."""
    if month < state.opened_month:
        return None
    totals = state.current if month >= state.current.month else None
    if totals is None:
        for row in reversed(state.closed):
            if row.month <= month:
                totals = row
                break
    if totals is None or totals.month != month:
        # No events that month: the balance carried from the latest month before it.
        balance = state.current.opening_cents if totals is None else totals.closing_cents
        totals = MonthTotals(month, balance)
    return {
        "account_id": state.account_id,
        "month": month,
        "currency": state.currency,
        "opening_balance": format_cents(totals.opening_cents),
        "deposits": format_cents(totals.deposits_cents),
        "withdrawals": format_cents(totals.withdrawals_cents),
        "closing_balance": format_cents(totals.closing_cents),
    }


def _row(totals: MonthTotals) -> list[Any]:
    return [totals.month, totals.opening_cents, totals.deposits_cents, totals.withdrawals_cents]


def _totals(row: Any) -> MonthTotals:
    return MonthTotals(str(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _to_item(state: Statements) -> dict[str, Any]:
    # Months as short lists: the item stays small (about 60 bytes a month).
    return {
        "account_id": state.account_id,
        "currency": state.currency,
        "opened_month": state.opened_month,
        "current": _row(state.current),
        "closed": [_row(totals) for totals in state.closed],
    }


def _from_item(item: Mapping[str, Any]) -> Statements:
    return Statements(
        account_id=item["account_id"],
        currency=item["currency"],
        opened_month=item["opened_month"],
        current=_totals(item["current"]),
        closed=tuple(_totals(row) for row in item.get("closed", [])),
    )


def read_model(settings: object = None) -> ReadModelFold[Statements]:
    """The statements read model (declared in chalicelib.resources.READ_MODELS)."""
    return ReadModelFold(
        key=statement_key,
        evolve=evolve,
        to_item=_to_item,
        from_item=_from_item,
        projection=FoldProjection("statements", statement_key, evolve),
    )
