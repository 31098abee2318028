"""What each route of the HTTP API takes and answers, by Chalice view name.

Paths, methods and path parameters come from the Chalice app's routes
(app.py); this table adds what the code cannot tell: the request model, query
parameters and the error statuses particular to a route; its response models
are api_models.RESPONSES (response shaping reads those alone, so a route's
answer imports no other route's request models). Adding a route is adding
one entry here and one there (a test fails otherwise). The OpenAPI document
(openapi.py) reads both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.inputs import INSTANT_PATTERN
from chalicelib.entrypoints.search_params import SearchParams
from chalicelib.service.accounts import OpenAccount, Transfer
from chalicelib.service.purchases import MakePurchase
from chalicelib.service.user_lifecycle import SetConsents, SetLoyalty
from chalicelib.service.users import RegisterUser
from projections.statements import MONTH_PATTERN

__all__ = ["OPERATIONS", "AtParams", "Operation"]


class AtParams(BaseModel):
    """The ``?at=`` query parameter of point-in-time reads."""

    model_config = ConfigDict(extra="ignore")
    at: str | None = Field(
        None,
        description="Answer as of this instant (ISO-8601 date or date-time written in the "
        "years 1970 to 9999; without an offset, UTC): the fold of the events with time <= at.",
        json_schema_extra={"pattern": INSTANT_PATTERN, "examples": ["2026-11-27T10:00:00Z"]},
    )


class Operation(msgspec.Struct, frozen=True):
    """One route: its summary, request models and the error statuses it adds to the common ones.

    Common errors are derived: 400 when it reads a body or query,
    401 unless ``public``, 404 with path parameters, 413/415/422 for bodies
    and POSTs, 500 always. ``path_patterns`` gives the pattern (JSON Schema
    syntax) of a path parameter the route validates (a 400 otherwise).
    """

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: Mapping[int, str] = msgspec.field(default_factory=dict)
    public: bool = False
    description: str = ""
    path_patterns: Mapping[str, str] = msgspec.field(default_factory=dict)


def _json_schema_pattern(pattern: re.Pattern[str]) -> str:
    """A Python pattern used with ``.match`` and ending in ``\\Z``, as a JSON Schema pattern."""
    return "^" + pattern.pattern.removesuffix(r"\Z") + "$"


_COMMAND_CONFLICT = "too many concurrent writers on this resource (`conflict`); retry"

OPERATIONS: dict[str, Operation] = {
    "health": Operation("Liveness check", "platform", public=True),
    "openapi_document": Operation("This OpenAPI 3.1 document", "platform", public=True),
    "register_user": Operation(
        "Register a user",
        "users",
        body=RegisterUser,
        errors={
            403: "`email_not_verified`: the caller's identity has no verified email",
            409: "`already_registered`, `email_taken`, or " + _COMMAND_CONFLICT,
            422: "`email_mismatch`: the body's `email` is not the identity's; or "
            "`idempotency_key_reused`",
        },
        description="Registers the caller (id = the token's `sub`) with the verified email "
        "of their identity in the user pool; a body `email` is optional and must be that one "
        "(case-insensitive).",
    ),
    "get_user": Operation("Read a user", "users"),
    "set_loyalty": Operation(
        "Join or leave the loyalty programme",
        "users",
        body=SetLoyalty,
        errors={409: _COMMAND_CONFLICT},
    ),
    "set_consents": Operation(
        "Give or withdraw marketing consent",
        "users",
        body=SetConsents,
        errors={409: _COMMAND_CONFLICT},
    ),
    "make_purchase": Operation(
        "Record a purchase",
        "users",
        body=MakePurchase,
        errors={409: _COMMAND_CONFLICT},
        description="The same `order_id` again answers 200 with the first purchase. "
        "An unknown or erased person is 404.",
    ),
    "open_account": Operation(
        "Open an account",
        "accounts",
        body=OpenAccount,
        errors={
            403: "`forbidden`: `owner_id` names another person and the caller is not `admin`",
            404: "`not_found`: the owner is not a registered person (unknown or erased)",
            409: _COMMAND_CONFLICT,
        },
    ),
    "deposit": Operation(
        "Deposit into an account",
        "accounts",
        body=Transfer,
        errors={409: _COMMAND_CONFLICT},
        description="An account whose owner was erased takes no more commands (404).",
    ),
    "withdraw": Operation(
        "Withdraw from an account",
        "accounts",
        body=Transfer,
        errors={409: "`insufficient_funds`, or " + _COMMAND_CONFLICT},
        description="An account whose owner was erased takes no more commands (404).",
    ),
    "get_account": Operation(
        "Read an account, now or as of an instant",
        "accounts",
        query=AtParams,
    ),
    "account_events": Operation("The account's events in version order", "accounts"),
    "account_statement": Operation(
        "A monthly statement of an account",
        "accounts",
        path_patterns={"month": _json_schema_pattern(MONTH_PATTERN)},
        errors={
            400: "`validation_error`: `month` is not `yyyy-mm`",
            404: "`not_found`: no such account (or another person's), "
            "or a month before the account was opened",
        },
        description="Opening balance, deposits, withdrawals and closing balance of the "
        "calendar month `yyyy-mm` (UTC); the closing balance is the account's balance at the "
        "month's end (`GET /accounts/{id}?at=`). A month without events after the opening "
        "has zero totals and its opening balance as closing balance; the current month "
        "counts the events so far.",
    ),
    "get_loyalty": Operation("Loyalty status and points", "loyalty"),
    "get_gdpr_consents": Operation(
        "The GDPR consent record, now or as of an instant",
        "gdpr",
        query=AtParams,
    ),
    "get_crm_contact": Operation("The CRM contact (404 without marketing consent)", "crm"),
    "erase_user": Operation(
        "Erase a person's data (crypto-shredding)",
        "gdpr",
        errors={409: _COMMAND_CONFLICT},
        description="Erasing twice answers the same 202 and appends nothing. The person's "
        "identity is then deleted from the user pool, and every command about them is 404.",
    ),
    "search": Operation(
        "Search events (newest first)",
        "search",
        query=SearchParams,
        errors={403: "`forbidden`: the caller is not in the `admin` group"},
    ),
}
