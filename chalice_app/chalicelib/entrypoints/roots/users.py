"""The API's user routes: registration, reads and changes of a user, purchases, erasure.

app.py's ``/users`` and ``/gdpr/erasure`` routes call one function of this
module each (through ``roots.users``, on their first request). Each carries
its access rule (chalicelib.domain.access).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec.structs import replace

from chalicelib.adapters import aws, identity
from chalicelib.adapters.dynamo_unit_of_work import DynamoItems
from chalicelib.adapters.idempotency import StoredResponse
from chalicelib.domain.access import ANY_CALLER, Caller, authorize, person
from chalicelib.domain.inputs import parse_body
from chalicelib.domain.user_aggregate import ChangeConsents, ChangeLoyalty
from chalicelib.entrypoints.roots.api_commands import idempotency_key, ledger, runner, users
from chalicelib.service.purchases import MakePurchase, PurchaseService
from chalicelib.service.user_lifecycle import SetConsents, SetLoyalty, UserLifecycle
from chalicelib.service.users import RegisterUser

__all__ = [
    "erase_user",
    "get_user",
    "make_purchase",
    "register_user",
    "set_consents",
    "set_loyalty",
]


@authorize(ANY_CALLER)
def register_user(
    caller: Caller, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    """Register the caller with their identity's verified email (201, id = the token's ``sub``)."""
    request = parse_body(raw_body, RegisterUser)
    registry = users()
    response = registry.register(
        caller.sub,
        request,
        identity.verified_email(headers.get("authorization")),
        scope="POST /users",
        idempotency_key=idempotency_key(caller, headers, request),
    )
    return replace(response, body=registry.open(response.body))


@authorize(person("user_id"))
def erase_user(caller: Caller, user_id: str, headers: Mapping[str, str]) -> StoredResponse:
    """Crypto-shred the user's personal data (202); repeating it is a no-op."""
    return users().erase(
        user_id,
        scope=f"POST /gdpr/erasure/{user_id}",
        idempotency_key=idempotency_key(caller, headers),
    )


@authorize(person("user_id"))
def make_purchase(
    caller: Caller, user_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, MakePurchase)
    purchases = PurchaseService(ledger(), runner(), users().exists)
    return purchases.purchase(
        user_id,
        request,
        scope=f"POST /users/{user_id}/purchases",
        idempotency_key=idempotency_key(caller, headers, request),
    )


@authorize(person("user_id"))
def get_user(caller: Caller, user_id: str) -> dict[str, Any]:
    return users().get(user_id)


def _lifecycle() -> UserLifecycle:
    return UserLifecycle(DynamoItems(aws.table("users")), ledger(), runner(), users())


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
