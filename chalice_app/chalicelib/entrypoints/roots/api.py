"""The API's role: each HTTP operation, its access rule, and the API's response shapes.

app.py's routes call one function of this module each (through
``roots.api``, on the first request); the HTTP edge (chalicelib.entrypoints.http) shapes
success bodies with ``shape_body``. Tests reset the getters with
``aws.reset()`` and point them at moto.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from chalicelib.adapters import aws, identity
from chalicelib.adapters.dynamo_unit_of_work import DynamoItems, DynamoUnitOfWork
from chalicelib.adapters.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKey,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
)
from chalicelib.adapters.search import IndexNotFound, SearchUnavailable
from chalicelib.adapters.search.documents import current_event, shown_event
from chalicelib.domain.access import (
    ADMIN,
    ANY_CALLER,
    MARKETING,
    Caller,
    acting_for,
    authorize,
    group,
    owner,
    person,
)
from chalicelib.domain.exceptions import NotFound, ValidationFailed
from chalicelib.domain.inputs import parse_body
from chalicelib.domain.user_aggregate import ChangeConsents, ChangeLoyalty
from chalicelib.entrypoints.api_routes import OPERATIONS
from chalicelib.entrypoints.openapi import build_document
from chalicelib.entrypoints.roots import search, stores, vault
from chalicelib.entrypoints.roots.subscriber_resources import SubscriberResources
from chalicelib.entrypoints.search_params import parse_search_query
from chalicelib.service.accounts import (
    AccountService,
    OpenAccount,
    SnapshotStore,
    Transfer,
    parse_at,
)
from chalicelib.service.commands import CommandRunner
from chalicelib.service.consumers import CrmContactSync, GdprConsentRecord, LoyaltyEnrolment
from chalicelib.service.purchases import MakePurchase, PurchaseService
from chalicelib.service.user_lifecycle import SetConsents, SetLoyalty, UserLifecycle
from chalicelib.service.users import RegisterUser, UserRegistry
from chalicelib.settings import get_settings
from projections import statements
from projections.loyalty import DEFAULT_POLICY, Loyalty

__all__ = [
    "account_events",
    "account_statement",
    "crm_contact",
    "deposit",
    "erase_user",
    "gdpr_consents",
    "get_account",
    "get_user",
    "loyalty_status",
    "make_purchase",
    "open_account",
    "openapi_document",
    "register_user",
    "search_events",
    "set_consents",
    "set_loyalty",
    "shape_body",
    "verify_caller",
    "withdraw",
]


def verify_caller(authorization: str | None) -> Caller:
    """The caller an ``Authorization`` header proves (chalicelib.adapters.identity)."""
    return identity.authenticate(authorization)


def shape_body(view_name: str, status_code: int, body: Any) -> Any:
    """``body`` as the route's response model for ``status_code`` dumps it (api_routes).

    What is sent is what the OpenAPI document describes; a body passes
    through unchanged when it conforms or the route declares no model.
    """
    operation = OPERATIONS.get(view_name)
    model = operation.responses.get(status_code) if operation else None
    if model is None:
        return body
    return model.model_validate(body).model_dump(mode="json", exclude_unset=True)


_documents: dict[int, dict[str, Any]] = {}


def openapi_document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a Chalice app's routes (built once per app)."""
    if id(routes) not in _documents:
        _documents[id(routes)] = build_document(routes)
    return _documents[id(routes)]


def _runner() -> CommandRunner:
    store = IdempotencyStore(aws.table("idempotency"), get_settings().idempotency_ttl_seconds)
    return CommandRunner(DynamoUnitOfWork(aws.table("ledger"), store))


def _users() -> UserRegistry:
    return UserRegistry(
        DynamoItems(aws.table("users")), stores.ledger(), _runner(), vault.data_keys()
    )


def _accounts() -> AccountService:
    return AccountService(
        stores.ledger(), _runner(), SnapshotStore(aws.table("read_models")), _users().exists
    )


def _key(
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


def _account_owner(account_id: str) -> str | None:
    # An erased owner's still-valid token reaches none of their accounts (admins still do).
    owner_id = _accounts().owner_of(account_id)
    return owner_id if owner_id is not None and _users().exists(owner_id) else None


@authorize(ANY_CALLER)
def register_user(
    caller: Caller, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    """Register the caller with their identity's verified email (201, id = the token's ``sub``)."""
    request = parse_body(raw_body, RegisterUser)
    users = _users()
    response = users.register(
        caller.sub,
        request,
        identity.verified_email(headers.get("authorization")),
        scope="POST /users",
        idempotency_key=_key(caller, headers, request),
    )
    return replace(response, body=users.open(response.body))


@authorize(person("user_id"))
def erase_user(caller: Caller, user_id: str, headers: Mapping[str, str]) -> StoredResponse:
    """Crypto-shred the user's personal data (202); repeating it is a no-op."""
    return _users().erase(
        user_id, scope=f"POST /gdpr/erasure/{user_id}", idempotency_key=_key(caller, headers)
    )


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
        idempotency_key=_key(caller, headers, request),
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
        idempotency_key=_key(caller, headers, request),
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
        idempotency_key=_key(caller, headers, request),
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


@authorize(person("user_id"))
def make_purchase(
    caller: Caller, user_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, MakePurchase)
    purchases = PurchaseService(stores.ledger(), _runner(), _users().exists)
    return purchases.purchase(
        user_id,
        request,
        scope=f"POST /users/{user_id}/purchases",
        idempotency_key=_key(caller, headers, request),
    )


@authorize(person("user_id"))
def get_user(caller: Caller, user_id: str) -> dict[str, Any]:
    return _users().get(user_id)


def _lifecycle() -> UserLifecycle:
    return UserLifecycle(DynamoItems(aws.table("users")), stores.ledger(), _runner(), _users())


@authorize(person("user_id"))
def set_loyalty(caller: Caller, user_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
    """Join or leave the loyalty programme; the user afterwards."""
    request = parse_body(raw_body, SetLoyalty)
    command = ChangeLoyalty(user_id, request.member)
    return _lifecycle().change(command, scope=f"PUT /users/{user_id}/loyalty")


@authorize(person("user_id"))
def set_consents(caller: Caller, user_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
    """Give or withdraw marketing consent; the user afterwards."""
    request = parse_body(raw_body, SetConsents)
    command = ChangeConsents(user_id, request.marketing)
    return _lifecycle().change(command, scope=f"PUT /users/{user_id}/consents")


@authorize(person("user_id"))
def loyalty_status(caller: Caller, user_id: str) -> dict[str, Any]:
    """``{"user_id","enrolled","points","tier"}``; NotFound for an unknown user."""
    enrolment = LoyaltyEnrolment.from_context(SubscriberResources("loyalty")).get(user_id)
    state: Loyalty | None = stores.read_models().state(stores.read_model("loyalty"), user_id)
    if enrolment is None and state is None and not _users().exists(user_id):
        raise NotFound(f"user {user_id} not found")
    points = state.points if state else 0
    return {
        "user_id": user_id,
        # Enrolment is the loyalty consumer's record; points come from the projector.
        "enrolled": bool(enrolment and enrolment.get("enrolled")),
        "points": points,
        "tier": DEFAULT_POLICY.tier(points),
    }


@authorize(person("user_id"))
def gdpr_consents(
    caller: Caller, user_id: str, query: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The consent record now, or as it stood at ``?at=`` (ISO-8601)."""
    at = (query or {}).get("at")
    record = GdprConsentRecord.from_context(SubscriberResources("gdpr"))
    return record.view(user_id, None if at is None else parse_at(at))


@authorize(person("user_id", also=(MARKETING,)))
def crm_contact(caller: Caller, user_id: str) -> dict[str, Any]:
    return CrmContactSync.from_context(SubscriberResources("crm")).view(user_id)


@authorize(group(ADMIN))
def search_events(caller: Caller, query_params: Mapping[str, str] | None) -> dict[str, Any]:
    """``GET /search``: ``{"total", "events"}`` newest first; ValidationFailed on bad params."""
    query = parse_search_query(query_params)
    try:
        result = search.search_index().search(query)
    except IndexNotFound as exc:
        raise SearchUnavailable(f"the search index is not set up: {exc}") from exc
    # Documents indexed before a type's latest version are shown as that version.
    return {"total": result.total, "events": [shown_event(e) for e in result.events]}
