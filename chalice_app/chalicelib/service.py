"""Composition root: builds the domain objects from settings and boto3 getters.

``app.py`` calls one function of this module per route or event handler.
Tests reset the getters with ``aws.reset()`` and point them at moto.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cached_property
from typing import Any

import orjson
from pydantic import BaseModel

from chalicelib import aws, faults, projector, resources
from chalicelib.access import (
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
from chalicelib.accounts import AccountService, OpenAccount, SnapshotStore, Transfer, parse_at
from chalicelib.commands import CommandRunner
from chalicelib.consumers import (
    CrmContactSync,
    GdprConsentRecord,
    LoyaltyEnrolment,
    SqsBatchProcessor,
    UserEventConsumer,
)
from chalicelib.events import USER_ERASED, CloudEvent, parse_event
from chalicelib.exceptions import NotFound, ValidationFailed
from chalicelib.fanout import FANOUT_TYPE_PREFIX, UserEventFanout
from chalicelib.http import parse_body
from chalicelib.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKey,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
)
from chalicelib.ledger import EventLedger
from chalicelib.observability import BatchObserver, Outcome, event_fields, safe_reason
from chalicelib.openapi import build_document
from chalicelib.personal_data import DataKeyStore, PersonalDataVault
from chalicelib.purchases import MakePurchase, PurchaseService
from chalicelib.read_models import ReadModelStore, Stored
from chalicelib.relay import LedgerRelay, ledger_inserts
from chalicelib.search import (
    IndexNotFound,
    SearchIndex,
    SearchUnavailable,
    parse_search_query,
)
from chalicelib.search.factory import make_search_index
from chalicelib.search.personal import open_personal_fields, redact_erased
from chalicelib.settings import Settings, get_settings
from chalicelib.user_aggregate import SetConsents, SetLoyalty
from chalicelib.user_lifecycle import UserLifecycle
from chalicelib.user_records import History
from chalicelib.users import RegisterUser, UserRegistry
from projections.accounts import ACCOUNT_TYPES
from projections.loyalty import LoyaltyPolicy

__all__ = [
    "account_events",
    "applied_positions",
    "consume_user_events",
    "crm_contact",
    "deposit",
    "erase_user",
    "fan_out_user_events",
    "firehose_transform",
    "gdpr_consents",
    "get_account",
    "get_user",
    "loyalty_status",
    "make_purchase",
    "open_account",
    "open_event_personal_fields",
    "openapi_document",
    "project_records",
    "redact_erased_from_search",
    "register_user",
    "relay_ledger_records",
    "search_events",
    "set_consents",
    "set_loyalty",
    "subscriber_consumer",
    "withdraw",
]


_documents: dict[int, dict[str, Any]] = {}


def openapi_document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a Chalice app's routes (built once per app)."""
    if id(routes) not in _documents:
        _documents[id(routes)] = build_document(routes)
    return _documents[id(routes)]


def _runner() -> CommandRunner:
    store = IdempotencyStore(aws.table("idempotency"), get_settings().idempotency_ttl_seconds)
    return CommandRunner(aws.table("ledger"), store)


def _ledger() -> EventLedger:
    return EventLedger(aws.table("ledger"))


def _data_keys() -> DataKeyStore:
    return DataKeyStore(
        aws.table("personal_data_keys"), aws.client("kms"), get_settings().personal_data_kms_key
    )


def _users() -> UserRegistry:
    return UserRegistry(aws.table("users"), _ledger(), _runner(), _data_keys())


def _accounts() -> AccountService:
    return AccountService(_ledger(), _runner(), SnapshotStore(aws.table("read_models")))


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
    return _accounts().owner_of(account_id)


@authorize(ANY_CALLER)
def register_user(
    caller: Caller, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    """Register the caller as a user (201 with the user, id = the token's ``sub``)."""
    request = parse_body(raw_body, RegisterUser)
    users = _users()
    response = users.register(caller.sub, request, _key(caller, headers, request))
    return replace(response, body=users.open(response.body))


@authorize(person("user_id"))
def erase_user(caller: Caller, user_id: str, headers: Mapping[str, str]) -> StoredResponse:
    """Crypto-shred the user's personal data (202); repeating it is a no-op."""
    return _users().erase(user_id, _key(caller, headers))


def open_account(
    caller: Caller, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    """Open an account for ``owner_id`` (default: the caller), who must be registered."""
    request = parse_body(raw_body, OpenAccount)
    return _open_account(caller, request.owner_id or caller.sub, request, headers)


@authorize(acting_for("owner_id"))
def _open_account(
    caller: Caller, owner_id: str, request: OpenAccount, headers: Mapping[str, str]
) -> StoredResponse:
    return _accounts().open(
        owner_id,
        request.currency,
        _key(caller, headers, request),
        owner_registered=_users().exists(owner_id),
    )


@authorize(owner(_account_owner, "account_id"))
def deposit(
    caller: Caller, account_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, Transfer)
    return _accounts().deposit(account_id, request, _key(caller, headers, request))


@authorize(owner(_account_owner, "account_id"))
def withdraw(
    caller: Caller, account_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, Transfer)
    return _accounts().withdraw(account_id, request, _key(caller, headers, request))


def _read_models() -> ReadModelStore:
    policy = LoyaltyPolicy(early_adopter_count=get_settings().early_adopter_count)
    return ReadModelStore(aws.table("read_models"), policy)


@authorize(owner(_account_owner, "account_id"))
def get_account(caller: Caller, account_id: str, query: Mapping[str, str] | None) -> dict[str, Any]:
    """The account now (read model caught up with the ledger tail), or as of ``?at=``."""
    at = (query or {}).get("at")
    if at is not None:
        return _accounts().at(account_id, parse_at(at)).to_dict()
    return _accounts().current(account_id, _read_models().get_account(account_id)).to_dict()


def project_records(raw_records: list[bytes]) -> dict[str, int]:
    """Apply a Kinesis batch to the read models (the projector Lambda)."""
    observer = BatchObserver("projector", lag_metric="ProjectorLag")
    with observer.invocation(raw_records):
        faults.check("projector")
        stats = projector.project_records(
            raw_records, _read_models(), _ledger().raw_events, observer
        )
    return {"applied": stats.applied, "duplicates": stats.duplicates, "ignored": stats.ignored}


@authorize(owner(_account_owner, "account_id"))
def account_events(caller: Caller, account_id: str) -> dict[str, Any]:
    return {"events": _accounts().events(account_id)}


@authorize(person("user_id"))
def make_purchase(
    caller: Caller, user_id: str, raw_body: bytes | str | None, headers: Mapping[str, str]
) -> StoredResponse:
    request = parse_body(raw_body, MakePurchase)
    service = PurchaseService(_ledger(), _runner())
    return service.purchase(
        user_id,
        request,
        user_exists=_users().exists(user_id),
        idempotency_key=_key(caller, headers, request),
    )


@authorize(person("user_id"))
def get_user(caller: Caller, user_id: str) -> dict[str, Any]:
    return _users().get(user_id)


def _lifecycle() -> UserLifecycle:
    return UserLifecycle(aws.table("users"), _ledger(), _runner(), _users())


@authorize(person("user_id"))
def set_loyalty(caller: Caller, user_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
    """Join or leave the loyalty programme; the user afterwards."""
    command = parse_body(raw_body, SetLoyalty)
    return _lifecycle().change(user_id, command, scope=f"PUT /users/{user_id}/loyalty")


@authorize(person("user_id"))
def set_consents(caller: Caller, user_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
    """Give or withdraw marketing consent; the user afterwards."""
    command = parse_body(raw_body, SetConsents)
    return _lifecycle().change(user_id, command, scope=f"PUT /users/{user_id}/consents")


@authorize(person("user_id"))
def loyalty_status(caller: Caller, user_id: str) -> dict[str, Any]:
    """``{"user_id","enrolled","points","tier"}``; NotFound for an unknown user."""
    enrolment = LoyaltyEnrolment.from_context(_SubscriberContext("loyalty")).get(user_id)
    store = _read_models()
    points = store.get_loyalty(user_id)
    if enrolment is None and points is None and not _users().exists(user_id):
        raise NotFound(f"user {user_id} not found")
    return {
        "user_id": user_id,
        # Enrolment is the loyalty consumer's record; points come from the projector.
        "enrolled": bool(enrolment and enrolment.get("enrolled")),
        "points": points["points"] if points else 0,
        "tier": points["tier"] if points else store.policy.tier(0),
    }


def _history(user_id: str, after_version: int) -> list[CloudEvent]:
    return _ledger().load(user_id, after_version=after_version)


@authorize(person("user_id"))
def gdpr_consents(
    caller: Caller, user_id: str, query: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The consent record now, or as it stood at ``?at=`` (ISO-8601)."""
    at = (query or {}).get("at")
    record = GdprConsentRecord.from_context(_SubscriberContext("gdpr"))
    return record.view(user_id, None if at is None else parse_at(at))


@authorize(person("user_id", also=(MARKETING,)))
def crm_contact(caller: Caller, user_id: str) -> dict[str, Any]:
    return CrmContactSync.from_context(_SubscriberContext("crm")).view(user_id)


def relay_ledger_records(records: Iterable[Mapping[str, Any]]) -> int:
    """Forward the ledger inserts of a DynamoDB stream batch to Kinesis."""
    relay = LedgerRelay(aws.client("kinesis"), get_settings().event_stream)
    inserts = ledger_inserts(records)
    observer = BatchObserver("ledger_relay")
    with observer.invocation([data for _, data in inserts], RelayBatchSize=len(inserts)):
        faults.check("ledger_relay")
        forwarded = relay.forward(inserts)
        for _, data in inserts:
            observer.record(event_fields(data), Outcome.RELAYED, observer.started)
    return forwarded


def fan_out_user_events(raw_records: list[bytes]) -> int:
    """Publish the user events of a Kinesis batch to the SNS topic."""
    fanout = UserEventFanout(aws.client("sns"), get_settings().user_events_topic_arn)
    observer = BatchObserver("user_events_fanout")
    with observer.invocation(raw_records):
        faults.check("user_events_fanout")
        published = fanout.publish(raw_records)
        for raw in raw_records:
            fields = event_fields(raw)
            user_event = str(fields["event_type"] or "").startswith(FANOUT_TYPE_PREFIX)
            outcome = Outcome.PUBLISHED if user_event else Outcome.IGNORED
            observer.record(fields, outcome, observer.started)
    return published


class _SubscriberContext:
    """A subscriber's resources (chalicelib.subscriber_context), built on first use."""

    def __init__(self, key: str) -> None:
        self._spec = resources.subscriber(key)

    @cached_property
    def table(self) -> Any:
        return aws.table(self._spec.table.key)

    @property
    def history(self) -> History:
        return _history

    @cached_property
    def vault(self) -> PersonalDataVault:
        return PersonalDataVault(_data_keys())

    @cached_property
    def ses(self) -> Any:
        return aws.client("sesv2")

    @property
    def email_sender(self) -> str:
        sender = get_settings().email_sender
        if not sender:
            raise RuntimeError(f"{resources.EMAIL_SENDER_ENV_VAR} is not set")
        return sender


def subscriber_consumer(key: str) -> UserEventConsumer:
    """The consumer of the subscriber declared with queue key ``key`` (resources.SUBSCRIBERS)."""
    module_name, _, class_name = resources.subscriber(key).consumer.partition(":")
    # The declaration names its consumer instead of importing it, so that it
    # stays plain data that Terraform's generator and the local stack can read.
    consumer_class = getattr(importlib.import_module(module_name), class_name)
    consumer: UserEventConsumer = consumer_class.from_context(_SubscriberContext(key))
    return consumer


def applied_positions(event: Mapping[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Where each consumer and the projector stand for ``event``'s aggregate (for ops trace)."""
    subject = str(event["subject"])
    positions: dict[str, dict[str, Any] | None] = {
        s.key: subscriber_consumer(s.key).position(subject) for s in resources.SUBSCRIBERS
    }
    store = _read_models()
    stored: Stored[Any] | None
    if event["type"] in ACCOUNT_TYPES:
        stored = store.load_account(subject)
    else:
        user_id = (event.get("data") or {}).get("user_id") or subject
        stored = store.load_loyalty(str(user_id))
    version = stored.positions.get(subject) if stored else None
    positions["projector"] = None if version is None else {"version": int(version)}
    return positions


class _Drillable:
    """A consumer that fails while the fault switch names it (failure drills)."""

    def __init__(self, name: str, consumer: UserEventConsumer) -> None:
        self._name = name
        self._consumer = consumer

    def handle(self, event: CloudEvent) -> bool:
        faults.check(self._name)
        return self._consumer.handle(event)

    def position(self, user_id: str) -> dict[str, Any] | None:
        return self._consumer.position(user_id)


def consume_user_events(consumer_key: str, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Run the consumer declared as ``consumer_key`` over an SQS batch."""
    consumer = _Drillable(consumer_key, subscriber_consumer(consumer_key))
    return SqsBatchProcessor(aws.client("sqs"), consumer, consumer_key).process(records)


_search_cache: dict[str, tuple[Settings, SearchIndex]] = {}


def search_index() -> SearchIndex:
    """The configured search adapter, built once per settings (``aws.reset()`` renews them)."""
    settings = get_settings()
    cached = _search_cache.get("index")
    if cached is None or cached[0] is not settings:
        cached = (settings, make_search_index(settings))
        _search_cache["index"] = cached
    return cached[1]


@authorize(group(ADMIN))
def search_events(caller: Caller, query_params: Mapping[str, str] | None) -> dict[str, Any]:
    """``GET /search``: ``{"total", "events"}`` newest first; ValidationFailed on bad params."""
    query = parse_search_query(query_params)
    try:
        result = search_index().search(query)
    except IndexNotFound as exc:
        raise SearchUnavailable(f"the search index is not set up: {exc}") from exc
    return {"total": result.total, "events": result.events}


def open_event_personal_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event with its personal fields decrypted (or redacted), for the search index."""
    return open_personal_fields(PersonalDataVault(_data_keys()), event)


def firehose_transform(event: Mapping[str, Any]) -> dict[str, Any]:
    """Firehose data transformation (search destination): open personal fields.

    A record that is not a JSON object is returned as ProcessingFailed, which
    Firehose writes to the error prefix instead of the index.
    """
    records = []
    observer = BatchObserver("search_transform")
    for record in event.get("records", []):
        started = observer.started
        try:
            parsed = orjson.loads(base64.b64decode(record["data"]))
            if not isinstance(parsed, dict):
                raise ValueError("not a JSON object")
            data = orjson.dumps(open_event_personal_fields(parsed)) + b"\n"
            records.append(
                {
                    "recordId": record["recordId"],
                    "result": "Ok",
                    "data": base64.b64encode(data).decode(),
                }
            )
            observer.record(event_fields(parsed), Outcome.TRANSFORMED, started)
        except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
            records.append(
                {
                    "recordId": record["recordId"],
                    "result": "ProcessingFailed",
                    "data": record.get("data", ""),
                }
            )
            observer.record(event_fields({}), Outcome.FAILED, started, reason=safe_reason(exc))
    observer.flush()
    return {"records": records}


def redact_erased_from_search(raw_records: list[bytes]) -> int:
    """Redact the search documents of people erased in a Kinesis batch."""
    observer = BatchObserver("search_erasure")
    with observer.invocation(raw_records):
        faults.check("search_erasure")
        events = [parse_event(raw).to_dict() for raw in raw_records]
        erased = any(e["type"] == USER_ERASED for e in events)
        redacted = redact_erased(search_index(), events) if erased else 0
        for e in events:
            outcome = Outcome.REDACTED if e["type"] == USER_ERASED else Outcome.IGNORED
            observer.record(event_fields(e), outcome, observer.started)
    return redacted
