"""The API's reads of what the consumers keep: loyalty status, GDPR consents, CRM contact.

app.py's ``/loyalty``, ``/gdpr/consents`` and ``/crm/contacts`` routes call
one function of this module each (through ``roots.consumer_views``, on their
first request). Each carries its access rule (chalicelib.domain.access).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain.access import MARKETING, Caller, authorize, person
from chalicelib.domain.exceptions import NotFound
from chalicelib.entrypoints.roots import stores
from chalicelib.entrypoints.roots.api_commands import users
from chalicelib.entrypoints.roots.subscriber_resources import SubscriberResources
from chalicelib.service.accounts import parse_at
from chalicelib.service.consumers import CrmContactSync, GdprConsentRecord, LoyaltyEnrolment
from projections.loyalty import DEFAULT_POLICY, Loyalty

__all__ = ["crm_contact", "gdpr_consents", "loyalty_status"]


@authorize(person("user_id"))
def loyalty_status(caller: Caller, user_id: str) -> dict[str, Any]:
    """``{"user_id","enrolled","points","tier"}``; NotFound for an unknown user."""
    enrolment = LoyaltyEnrolment.from_context(SubscriberResources("loyalty")).get(user_id)
    state: Loyalty | None = stores.read_models().state(stores.read_model("loyalty"), user_id)
    if enrolment is None and state is None and not users().exists(user_id):
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
