"""The API's account routes: opening, deposits, withdrawals, reads, events, statements.

app.py's ``/accounts`` routes call one function of this module each
(through ``roots.accounts``, on their first request). Each carries its
access rule (chalicelib.domain.access).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters import aws
from chalicelib.adapters.idempotency import StoredResponse
from chalicelib.adapters.search.documents import current_event
from chalicelib.domain.access import Caller, acting_for, authorize, owner
from chalicelib.domain.exceptions import NotFound, ValidationFailed
from chalicelib.domain.inputs import parse_body
from chalicelib.entrypoints.roots import stores
from chalicelib.entrypoints.roots.api_commands import idempotency_key, runner, users
from chalicelib.service.accounts import (
    AccountService,
    OpenAccount,
    SnapshotStore,
    Transfer,
    parse_at,
)
from projections import statements

__all__ = [
    "account_events",
    "account_statement",
    "deposit",
    "get_account",
    "open_account",
    "withdraw",
]


def _accounts() -> AccountService:
    return AccountService(
        stores.ledger(), runner(), SnapshotStore(aws.table("read_models")), users().exists
    )


def _account_owner(account_id: str) -> str | None:
    # An erased owner's still-valid token reaches none of their accounts (admins still do).
    owner_id = _accounts().owner_of(account_id)
    return owner_id if owner_id is not None and users().exists(owner_id) else None


def open_account(
    caller: Caller, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    """Open an account for ``owner_id`` (default: the caller), who must exist (not erased)."""
    request = parse_body(raw_body, OpenAccount)
    return _open_account(caller, request.owner_id or caller.sub, request, headers)


@authorize(acting_for("owner_id"))
def _open_account(
    caller: Caller, owner_id: str, request: OpenAccount, headers: Mapping[str, str]
) -> StoredResponse:
    return _accounts().open(
        owner_id,
        request.currency,
        scope="POST /accounts",
        idempotency_key=idempotency_key(caller, headers, request),
    )


@authorize(owner(_account_owner, "account_id"))
def deposit(
    caller: Caller, account_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, Transfer)
    return _accounts().deposit(
        account_id,
        request,
        scope=f"POST /accounts/{account_id}/deposits",
        idempotency_key=idempotency_key(caller, headers, request),
    )


@authorize(owner(_account_owner, "account_id"))
def withdraw(
    caller: Caller, account_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, Transfer)
    return _accounts().withdraw(
        account_id,
        request,
        scope=f"POST /accounts/{account_id}/withdrawals",
        idempotency_key=idempotency_key(caller, headers, request),
    )


@authorize(owner(_account_owner, "account_id"))
def get_account(caller: Caller, account_id: str, query: Mapping[str, str] | None) -> dict[str, Any]:
    """The account now (read model caught up with the ledger tail), or as of ``?at=``."""
    at = (query or {}).get("at")
    if at is not None:
        return _accounts().at(account_id, parse_at(at)).to_dict()
    projected = stores.read_models().state(stores.read_model("accounts"), account_id)
    return _accounts().current(account_id, projected).to_dict()


@authorize(owner(_account_owner, "account_id"))
def account_events(caller: Caller, account_id: str) -> dict[str, Any]:
    return {"events": [current_event(e) for e in _accounts().events(account_id)]}


@authorize(owner(_account_owner, "account_id"))
def account_statement(caller: Caller, account_id: str, month: str) -> dict[str, Any]:
    """The account's statement of calendar month ``month`` (``yyyy-mm``, UTC)."""
    if not statements.MONTH_PATTERN.match(month):
        raise ValidationFailed(
            "month must be yyyy-mm",
            details=[{"field": "month", "message": "must be a month as yyyy-mm"}],
        )
    ledger = stores.ledger()
    state = stores.read_models().caught_up(
        stores.read_model("statements"),
        account_id,
        lambda key, after: ledger.raw_events(key, after_version=after),
    )
    found = None if state is None else statements.statement(state, month)
    if found is None:
        raise NotFound(f"account {account_id} has no statement for {month}")
    return found
