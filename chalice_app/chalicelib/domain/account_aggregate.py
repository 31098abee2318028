"""The account aggregate's commands: open, deposit, withdraw.

Pure: no I/O and no clock. The state is projections.accounts' ``Account``
(the same fold the projector keeps); ``decide`` turns a command into the
event data to append, and ``apply`` gives the account after it through the
fold's own transitions, so the overdraft rule (``withdraw_cents``) is
written once.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chalicelib.domain.events import AccountDeposited, AccountOpened, AccountWithdrawn
from chalicelib.domain.exceptions import Conflict, NotFound
from projections.accounts import Account, deposited, withdrawn
from projections.cents import format_cents, to_cents
from projections.errors import NegativeBalance

__all__ = [
    "AccountCommand",
    "AccountEvent",
    "Deposit",
    "Open",
    "Withdraw",
    "apply",
    "decide",
]


class Open(msgspec.Struct, frozen=True):
    """Open account ``account_id`` for ``owner_id`` in ``currency``."""

    account_id: str
    owner_id: str
    currency: str


class Deposit(msgspec.Struct, frozen=True):
    """Put ``amount`` (> 0, 2 decimals at most) into an account."""

    account_id: str
    amount: Decimal


class Withdraw(msgspec.Struct, frozen=True):
    """Take ``amount`` out of an account, never past its balance."""

    account_id: str
    amount: Decimal


AccountCommand = Open | Deposit | Withdraw
AccountEvent = AccountOpened | AccountDeposited | AccountWithdrawn


def decide(state: Account | None, command: AccountCommand) -> list[AccountEvent]:
    """The events ``command`` produces.

    NotFound for a deposit or withdrawal of an account never opened;
    Conflict(insufficient_funds) for a withdrawal past the balance.
    """
    if isinstance(command, Open):
        if state is not None:
            raise Conflict(f"account {command.account_id} is open already")
        return [
            AccountOpened(
                account_id=command.account_id, owner_id=command.owner_id, currency=command.currency
            )
        ]
    if state is None:
        raise NotFound(f"account {command.account_id} not found")
    if isinstance(command, Deposit):
        return [AccountDeposited(account_id=state.id, amount=command.amount)]
    try:
        withdrawn(state, to_cents(command.amount), state.version + 1)
    except NegativeBalance:
        raise Conflict(
            f"balance {format_cents(state.balance_cents)} is less than "
            f"{format_cents(to_cents(command.amount))}",
            code="insufficient_funds",
            details=[{"field": "amount", "message": "exceeds the balance"}],
        ) from None
    return [AccountWithdrawn(account_id=state.id, amount=command.amount)]


def apply(state: Account | None, data: AccountEvent, version: int) -> Account:
    """The account after event ``data`` at ``version`` (the fold's transitions)."""
    if isinstance(data, AccountOpened):
        return Account(data.account_id, data.owner_id, data.currency, 0, version)
    if state is None:
        raise NotFound(f"account {data.account_id} not found")
    amount = to_cents(data.amount)
    if isinstance(data, AccountDeposited):
        return deposited(state, amount, version)
    return withdrawn(state, amount, version)
