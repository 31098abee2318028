"""Response bodies of the HTTP API, as pydantic models.

Every JSON body a route answers is passed through its model (``RESPONSES``,
by route; see ``http.api_errors``) and the OpenAPI document is generated
from the same models, so the document cannot drift from what the API sends.
Two kinds of body are built to their model instead, so no model shapes them
at run time: errors (``edge.error_body``, ErrorBody) and GET /health's
constant (``edge.HEALTH_BODY``, whose one value Health's type is).
This module imports no route's code: shaping a route's answer
(roots.responses) imports these models alone. Fields are the
JSON types the API writes (money and times as strings), so passing a body
through its model leaves it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.entrypoints.edge import HealthStatus
from projections.catalogue import ACCOUNT_DEPOSITED

__all__ = [
    "RESPONSES",
    "Account",
    "ConsentChange",
    "ConsentRecord",
    "CrmContact",
    "Erasure",
    "ErrorBody",
    "ErrorDetail",
    "Event",
    "EventList",
    "Health",
    "Loyalty",
    "Movement",
    "Purchase",
    "SearchResult",
    "User",
    "UserConsents",
]

MONEY = r"^-?[0-9]+\.[0-9]{2}$"
_EVENT_ID = "7b1e9c52-3f0a-4d8e-a2b7-0c9d5e6f1a23"
_USER_ID = "0f8d6c1e-5b2a-4c3d-9e8f-7a6b5c4d3e2f"
_ACCOUNT_ID = "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e"
_TIME = "2026-11-27T10:00:00.000000Z"


class _Response(BaseModel):
    # Each model is built when its route first answers, not when the API starts.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ErrorDetail(_Response):
    field: str = Field(description="The field, query parameter or header concerned.")
    message: str = Field(description="The rule it broke, in words.")


class ErrorBody(_Response):
    """Every error of the API: 4xx and 5xx alike."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "validation_error",
                    "message": "request validation failed",
                    "details": [{"field": "amount", "message": "must be greater than 0"}],
                }
            ]
        }
    )
    error: str = Field(description="A stable machine-readable code, such as `not_found`.")
    message: str
    details: list[ErrorDetail]


class Health(_Response):
    status: HealthStatus


class UserConsents(_Response):
    marketing: bool


class User(_Response):
    """A registered user; personal fields read `[erased]` after an erasure."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _USER_ID,
                    "name": "Ada",
                    "lastname": "Lovelace",
                    "email": "ada@example.com",
                    "address": "12 St James's Square, London",
                    "loyalty": True,
                    "consents": {"marketing": True},
                    "created_at": _TIME,
                    "erased": False,
                }
            ]
        }
    )
    id: str
    name: str
    lastname: str
    email: str
    address: str | dict[str, str]
    loyalty: bool
    consents: UserConsents
    created_at: str
    erased: bool


class Account(_Response):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _ACCOUNT_ID,
                    "owner_id": _USER_ID,
                    "currency": "EUR",
                    "balance": "0.00",
                    "version": 1,
                }
            ]
        }
    )
    id: str
    owner_id: str
    currency: str
    balance: str = Field(pattern=MONEY)
    version: int = Field(ge=1)


class Statement(_Response):
    """An account's statement of one calendar month (UTC)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": _ACCOUNT_ID,
                    "month": "2026-11",
                    "currency": "EUR",
                    "opening_balance": "100.00",
                    "deposits": "50.00",
                    "withdrawals": "20.50",
                    "closing_balance": "129.50",
                }
            ]
        }
    )
    account_id: str
    month: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$")
    currency: str
    opening_balance: str = Field(pattern=MONEY)
    deposits: str = Field(pattern=MONEY)
    withdrawals: str = Field(pattern=MONEY)
    closing_balance: str = Field(pattern=MONEY)


class Movement(_Response):
    """The result of a deposit or a withdrawal."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"event_id": _EVENT_ID, "version": 2, "balance": "12.50"}]}
    )
    event_id: str
    version: int = Field(ge=1)
    balance: str = Field(pattern=MONEY)


class Purchase(_Response):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": _EVENT_ID,
                    "purchase_id": "5d4c3b2a-1f0e-5d9c-8b7a-6f5e4d3c2b1a",
                    "user_id": _USER_ID,
                    "order_id": "order-1001",
                    "amount": "42.00",
                    "currency": "EUR",
                    "time": _TIME,
                }
            ]
        }
    )
    event_id: str
    purchase_id: str
    user_id: str
    order_id: str
    amount: str = Field(pattern=MONEY)
    currency: str
    time: str


class Loyalty(_Response):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"user_id": _USER_ID, "enrolled": True, "points": 420, "tier": "silver"}]
        }
    )
    user_id: str
    enrolled: bool
    points: int
    tier: str


class ConsentChange(_Response):
    at: str
    marketing: bool
    event_id: str


class ConsentRecord(_Response):
    """The GDPR consent record (as of `at` when asked); `erased_at` once the person is erased."""

    user_id: str
    marketing: bool
    consents: dict[str, bool]
    recorded_at: str
    source_event_id: str
    history: list[ConsentChange]
    at: str | None = None
    erased_at: str | None = None


class CrmContact(_Response):
    user_id: str
    name: str
    lastname: str
    email: str
    address: str | dict[str, str]
    marketing_consent: bool
    synced_at: str


class Erasure(_Response):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": _USER_ID,
                    "status": "erased",
                    "erased_at": _TIME,
                    "event_id": _EVENT_ID,
                }
            ]
        }
    )
    user_id: str
    status: Literal["erased"]
    erased_at: str
    event_id: str


class Event(_Response):
    """A CloudEvents 1.0 event of the platform (structured mode)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "specversion": "1.0",
                    "id": _EVENT_ID,
                    "source": "/accounts",
                    "type": ACCOUNT_DEPOSITED,
                    "time": _TIME,
                    "subject": _ACCOUNT_ID,
                    "datacontenttype": "application/json",
                    "aggregateversion": 2,
                    "data": {"account_id": _ACCOUNT_ID, "amount": "12.50"},
                }
            ]
        }
    )
    specversion: Literal["1.0"]
    id: str
    source: str
    type: str
    time: str
    subject: str
    datacontenttype: Literal["application/json"]
    aggregateversion: int = Field(ge=1)
    dataschema: str | None = Field(
        None,
        description="The version of the type's data schema; absent for a type's first version.",
    )
    data: dict[str, Any]


class EventList(_Response):
    events: list[Event]


class SearchResult(_Response):
    total: int = Field(ge=0)
    events: list[Event]


# Each route's success bodies by Chalice view name and status (None: any JSON object).
# The route's other traits are in api_routes.OPERATIONS (a test checks both name every route).
RESPONSES: dict[str, Mapping[int, type[_Response] | None]] = {
    "health": {200: Health},
    "openapi_document": {200: None},
    "register_user": {201: User},
    "get_user": {200: User},
    "set_loyalty": {200: User},
    "set_consents": {200: User},
    "make_purchase": {201: Purchase, 200: Purchase},
    "open_account": {201: Account},
    "deposit": {201: Movement},
    "withdraw": {201: Movement},
    "get_account": {200: Account},
    "account_events": {200: EventList},
    "account_statement": {200: Statement},
    "get_loyalty": {200: Loyalty},
    "get_gdpr_consents": {200: ConsentRecord},
    "get_crm_contact": {200: CrmContact},
    "erase_user": {202: Erasure},
    "search": {200: SearchResult},
}
