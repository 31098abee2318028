"""The user-event consumers behind the SQS queues, and their batch handling.

Each consumer keeps one item per user with the last aggregate version it
accounted for (see user_records.py for how filtered streams keep that
strict): a redelivered event changes nothing, and an event whose
predecessors neither arrived nor are in the ledger fails so that SQS
redelivers it later. The subscriber role runs them over SQS batches
(chalicelib.entrypoints.sqs_batch.SqsBatchProcessor), failing per message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, Self

from chalicelib.adapters.subscriber_context import SubscriberContext
from chalicelib.adapters.user_records import History, UserRecordConsumer
from chalicelib.domain.events import (
    CloudEvent,
    ConsentsChanged,
    LoyaltyJoined,
    LoyaltyLeft,
    UserCreated,
    UserErased,
    format_time,
)
from chalicelib.domain.exceptions import NotFound, OutOfOrderEvent

if TYPE_CHECKING:
    # Only CrmContactSync opens personal data: the others do not import cryptography.
    from chalicelib.adapters.personal_data import PersonalDataVault

__all__ = [
    "CrmContactSync",
    "GdprConsentRecord",
    "LoyaltyEnrolment",
    "UserEventConsumer",
]


class UserEventConsumer(Protocol):
    def handle(self, event: CloudEvent) -> bool:
        """Apply ``event``; False if it was already applied (duplicate)."""
        ...

    def position(self, user_id: str) -> dict[str, Any] | None:
        """The version (and event id) last applied for ``user_id``; None if none."""
        ...


def _time(event: CloudEvent) -> str:
    return format_time(event.time)


def _erased(event: CloudEvent) -> dict[str, Any]:
    return {"erased": True, "erased_at": _time(event)}


class LoyaltyEnrolment(UserRecordConsumer):
    """Follows who is in the loyalty programme; keeps no personal data."""

    def build(self, current: dict[str, Any] | None, event: CloudEvent) -> Mapping[str, Any]:
        record = dict(current or {})
        data = event.data
        if isinstance(data, LoyaltyJoined) or (isinstance(data, UserCreated) and data.loyalty):
            return {**record, "enrolled": True, "enrolled_at": _time(event)}
        if isinstance(data, UserCreated):
            return {"enrolled": False}
        if isinstance(data, LoyaltyLeft):
            return {**record, "enrolled": False, "left_at": _time(event)}
        if isinstance(data, UserErased):
            # Points stay (they are not personal data); the enrolment is marked.
            return {**record, **_erased(event)}
        return record


def _consent_entry(event: CloudEvent, marketing: bool) -> dict[str, Any]:
    return {"at": _time(event), "marketing": marketing, "event_id": event.id}


def _consent_history(record: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not record:
        return []
    if "history" in record:
        return list(record["history"])
    if "consents" in record:
        # A record written before consent changes existed: its one entry.
        entry = {
            "at": record["recorded_at"],
            "marketing": bool(record["consents"]["marketing"]),
            "event_id": record["source_event_id"],
        }
        return [entry]
    return []


class GdprConsentRecord(UserRecordConsumer):
    """The consent register: every user's consents and every change to them, with times."""

    def build(self, current: dict[str, Any] | None, event: CloudEvent) -> Mapping[str, Any]:
        record = dict(current or {})
        data = event.data
        if isinstance(data, UserCreated):
            return {"history": [_consent_entry(event, data.marketing)]}
        if isinstance(data, ConsentsChanged):
            entry = _consent_entry(event, data.marketing)
            return {**record, "history": [*_consent_history(record), entry]}
        if isinstance(data, UserErased):
            # The record holds no personal data; it keeps the proof of consent and erasure.
            return {**record, **_erased(event)}
        return record

    def view(self, user_id: str, at: datetime | None = None) -> dict[str, Any]:
        """The consent record now, or as it stood at ``at``; NotFound if there was none."""
        item = self.get(user_id)
        history = _consent_history(item)
        cutoff = format_time(at) if at is not None else None
        in_force = [e for e in history if cutoff is None or e["at"] <= cutoff]
        if item is None or not in_force:
            when = "" if cutoff is None else f" at {cutoff}"
            raise NotFound(f"no consent record for user {user_id}{when}")
        entry = in_force[-1]
        consents = {"marketing": bool(entry["marketing"])}
        view: dict[str, Any] = {
            "user_id": user_id,
            "marketing": consents["marketing"],
            "consents": consents,
            "recorded_at": entry["at"],
            "source_event_id": entry["event_id"],
            "history": [
                {"at": e["at"], "marketing": bool(e["marketing"]), "event_id": e["event_id"]}
                for e in in_force
            ],
        }
        if cutoff is not None:
            view["at"] = cutoff
        if item.get("erased") and (cutoff is None or item["erased_at"] <= cutoff):
            view["erased_at"] = item["erased_at"]
        return view


class CrmContactSync(UserRecordConsumer):
    """Mirrors users who consented to marketing into the CRM contact table.

    The contact is stored sealed, like every other copy (so backups of the
    table hold no clear text), and opened when read. Withdrawing consent or
    an erasure replaces it with a tombstone holding no personal data; giving
    consent later creates it again from the registration's sealed fields in
    the ledger.
    """

    def __init__(
        self, table: Any, history: History, vault: Callable[[], PersonalDataVault]
    ) -> None:
        super().__init__(table, history)
        # Called when a contact is read (the API): the subscriber's function stores
        # contacts sealed and opens none, so it never builds a vault (cryptography).
        self._vault = vault

    @classmethod
    def from_context(cls, context: SubscriberContext) -> Self:
        return cls(context.table, context.history, lambda: context.vault)

    def build(self, current: dict[str, Any] | None, event: CloudEvent) -> Mapping[str, Any]:
        data = event.data
        if isinstance(data, UserCreated):
            if not data.marketing:
                return {"marketing_consent": False}
            return self._contact(data, event)
        if isinstance(data, ConsentsChanged):
            if not data.marketing:
                return {"marketing_consent": False, "withdrawn_at": _time(event)}
            return self._contact(self._registration(event.subject), event)
        if isinstance(data, UserErased):
            return {"marketing_consent": False, **_erased(event)}
        return dict(current or {})

    def _registration(self, user_id: str) -> UserCreated:
        for past in self._history(user_id, 0):
            if isinstance(past.data, UserCreated):
                return past.data
        raise OutOfOrderEvent(f"user.created of {user_id} is not in the ledger")

    @staticmethod
    def _contact(data: UserCreated, event: CloudEvent) -> dict[str, Any]:
        return {
            **{name: getattr(data, name) for name in sorted(UserCreated.personal_fields)},
            "marketing_consent": True,
            "synced_at": _time(event),
        }

    def view(self, user_id: str) -> dict[str, Any]:
        """The CRM contact; NotFound if none (also without marketing consent, or erased)."""
        item = self.get(user_id)
        if item is None or item.get("erased") or not item.get("marketing_consent"):
            raise NotFound(f"no CRM contact for user {user_id}")
        item = self._vault().open(user_id, item, UserCreated.personal_fields)
        return {
            "user_id": user_id,
            "name": item["name"],
            "lastname": item["lastname"],
            "email": item["email"],
            "address": item["address"],
            "marketing_consent": bool(item["marketing_consent"]),
            "synced_at": item["synced_at"],
        }
