"""What the console shows, read through the functions the API and ``ops.py`` use.

Accounts and people are read as the API reads them for an admin (the API's
route groups in chalicelib.entrypoints.roots, with an admin caller); queues,
redrive and traces come from scripts/operations, as ``ops.py`` has them.
Nothing here writes, except a redrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from boto3.dynamodb.conditions import Attr

from chalicelib.adapters import aws
from chalicelib.adapters.search import MAX_SIZE, SearchQuery
from chalicelib.domain.access import ADMIN, Caller
from chalicelib.domain.exceptions import NotFound
from chalicelib.entrypoints.roots import accounts, consumer_views, responses, search, stores, users
from chalicelib.entrypoints.roots.positions import applied_positions
from chalicelib.settings import get_settings
from operations import queues, redrive, trace
from opsconsole.timemachine import AccountHistory, HistoryCache
from projections import loyalty
from projections.accounts import ACCOUNT_TYPES, Account
from projections.catalogue import (
    ACCOUNT_OPENED,
    PURCHASE_MADE,
    USER_CONSENTS_CHANGED,
    USER_CREATED,
    USER_ERASED,
    USER_LOYALTY_JOINED,
    USER_LOYALTY_LEFT,
    current_mapping,
    decode_event,
)

__all__ = ["OPERATOR", "AccountView", "ConsoleData", "Person", "ReadModelCheck"]

# The console acts as an admin: it sees what the API shows an operator, no more.
OPERATOR = Caller(sub="operator-console", groups=frozenset({ADMIN}))
USER_TYPES = (USER_CREATED, USER_LOYALTY_JOINED, USER_LOYALTY_LEFT, USER_CONSENTS_CHANGED)


@dataclass(frozen=True)
class ReadModelCheck:
    """The accounts read model against a fold of the ledger up to the same version."""

    read_model: Account | None
    ledger_version: int
    agrees: bool
    behind: int

    @property
    def message(self) -> str:
        if self.read_model is None:
            return "The accounts read model has no row for this account yet"
        if not self.agrees:
            return (
                f"The read model (v{self.read_model.version}, balance "
                f"{self.read_model.to_dict()['balance']}) disagrees with the ledger's fold "
                "at that version"
            )
        if self.behind:
            return f"The read model is {self.behind} version(s) behind the ledger"
        return "The read model agrees with the ledger's fold"


@dataclass(frozen=True)
class AccountView:
    """An account page: its history, its state now (as the API answers) and the check."""

    history: AccountHistory
    now: dict[str, Any]
    check: ReadModelCheck


@dataclass(frozen=True)
class Person:
    """A person page: the API's admin view (None once erased), lifecycle and points."""

    user_id: str
    user: dict[str, Any] | None
    erased: bool
    lifecycle: list[dict[str, Any]]
    points: list[dict[str, Any]]
    loyalty_now: dict[str, Any] | None
    purchases_capped: bool = False


@dataclass
class ConsoleData:
    """The console's reads and its one write (redrive); ``local``: a local stack."""

    local: bool
    clock: Callable[[], float] = time.time
    histories: HistoryCache = field(default_factory=HistoryCache)

    # Accounts -----------------------------------------------------------------------

    def find_accounts(self, text: str) -> list[dict[str, Any]]:
        """Accounts whose id, or whose owner's id, is ``text`` (owners: a read-model scan)."""
        text = text.strip()
        if not text:
            return []
        first = stores.ledger().raw_event(text, 1)
        if first is not None and orjson.loads(first).get("type") == ACCOUNT_OPENED:
            return [accounts.get_account(OPERATOR, text, None)]
        table = aws.table("read_models")
        # The generation readers use now (a rebuild keeps the previous one until dropped).
        active = stores.read_model("accounts").pk("")
        kwargs: dict[str, Any] = {
            "FilterExpression": Attr("pk").begins_with(active) & Attr("owner_id").eq(text)
        }
        found: list[dict[str, Any]] = []
        while True:
            page = table.scan(**kwargs)
            found += [
                {
                    "id": item["id"],
                    "owner_id": item["owner_id"],
                    "currency": item["currency"],
                    "version": int(item["version"]),
                }
                for item in page.get("Items", [])
            ]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda a: str(a["id"]))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def account(self, account_id: str) -> AccountView:
        """The account's history (cached for the slider), state now and read-model check."""
        raw = stores.ledger().raw_events(account_id)
        first = orjson.loads(raw[0]) if raw else {}
        if first.get("type") != ACCOUNT_OPENED:
            raise NotFound(f"account {account_id} not found")
        history = self.histories.put(AccountHistory(account_id, raw))
        now = accounts.get_account(OPERATOR, account_id, None)
        stored = stores.read_models().state(stores.read_model("accounts"), account_id)
        return AccountView(history, now, self._check(history, stored))

    @staticmethod
    def _check(history: AccountHistory, stored: Account | None) -> ReadModelCheck:
        last = history.last_version
        if stored is None:
            return ReadModelCheck(None, last, True, last)
        expected = history.state_at_version(stored.version)
        return ReadModelCheck(
            stored,
            last,
            agrees=expected is not None and expected == stored,
            behind=max(0, last - stored.version),
        )

    def account_at_version(self, account_id: str, version: int) -> Account | None:
        """The account after ``version`` events (the history is loaded if not cached)."""
        history = self.histories.get(account_id) or self.account(account_id).history
        return history.state_at_version(version)

    def account_at_instant(self, account_id: str, instant: str) -> dict[str, Any]:
        """``GET /accounts/{id}?at=instant`` as the API answers it (ValidationFailed, NotFound)."""
        return accounts.get_account(OPERATOR, account_id, {"at": instant})

    # People -------------------------------------------------------------------------

    def person(self, user_id: str) -> Person:
        """The person's admin view, lifecycle and loyalty points over time; NotFound if none."""
        # Each as the current version of its type: older registrations are upcast.
        events = [current_mapping(orjson.loads(raw)) for raw in stores.ledger().raw_events(user_id)]
        if not events or events[0].get("type") != USER_CREATED:
            raise NotFound(f"user {user_id} not found")
        erased = any(e["type"] == USER_ERASED for e in events)
        user = (
            None
            if erased
            else responses.shape_body("get_user", 200, users.get_user(OPERATOR, user_id))
        )
        if user is not None and user.get("erased"):
            erased, user = True, None
        purchases = self._purchases(user_id)
        points = _points_over_time([e for e in events if e["type"] in USER_TYPES] + purchases)
        if points:  # the line runs on to now, so one event is a line, not a dot
            points.append({"time": _iso(self.clock()), "points": points[-1]["points"]})
        try:
            loyalty_now: dict[str, Any] | None = consumer_views.loyalty_status(OPERATOR, user_id)
        except NotFound:
            loyalty_now = None
        return Person(
            user_id=user_id,
            user=user,
            erased=erased,
            lifecycle=[_lifecycle_entry(e) for e in events],
            points=points,
            loyalty_now=loyalty_now,
            purchases_capped=len(purchases) >= MAX_SIZE,
        )

    @staticmethod
    def _purchases(user_id: str) -> list[dict[str, Any]]:
        # Purchases are aggregates of their own: the index finds a person's by the user id.
        query = SearchQuery(type=PURCHASE_MADE, q=user_id, size=MAX_SIZE)
        try:
            found = search.search_index().search(query).events
        except Exception:  # the index is optional to this page: points then show no purchases
            return []
        return [e for e in found if (e.get("data") or {}).get("user_id") == user_id]

    # Trace, failures, flow ------------------------------------------------------------

    def trace(self, event_id: str, subject: str | None = None) -> dict[str, Any]:
        """Where ``event_id`` is (operations.trace, as ``ops.py trace``)."""
        settings = get_settings()
        return trace.trace(
            event_id,
            subject=subject or None,
            ledger=aws.table("ledger"),
            kinesis=aws.client("kinesis"),
            s3=aws.client("s3"),
            stream=settings.event_stream,
            bucket=settings.archive_bucket,
        )

    def failure_queues(self) -> list[queues.QueueStatus]:
        """Every DLQ and failure queue: depth, oldest age, a sample reason (``ops.py dlq``)."""
        sqs = aws.client("sqs")
        return [
            queues.inspect(sqs, queue, self.clock)
            for queue in queues.failure_queues(get_settings())
        ]

    def redrive(self, name: str) -> dict[str, Any]:
        """``ops.py redrive NAME``; KeyError for an unknown queue."""
        return redrive.redrive(name, local=self.local)

    def recent_events(self) -> list[dict[str, Any]]:
        """The newest events the index holds (at most search.MAX_SIZE), newest first."""
        return search.search_index().search(SearchQuery(size=MAX_SIZE)).events

    @staticmethod
    def applied(events: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
        """Per consumer (and the projector), the ids of ``events`` it has applied."""
        done: dict[str, set[str]] = {}
        positions: dict[tuple[str, bool], dict[str, dict[str, Any] | None]] = {}
        for event in events:
            # One look-up per aggregate, not per event (the projector's row depends only
            # on whether the aggregate is an account).
            key = (str(event["subject"]), event["type"] in ACCOUNT_TYPES)
            if key not in positions:
                positions[key] = applied_positions(event)
            for name, position in positions[key].items():
                applied = bool(position and position["version"] >= event["aggregateversion"])
                bucket = done.setdefault(name, set())
                if applied:
                    bucket.add(str(event["id"]))
        return done


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _lifecycle_entry(event: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry with no personal field: what changed, never who."""
    data = event.get("data") or {}
    detail = ""
    kind = event["type"]
    if kind == USER_CREATED:
        detail = f"loyalty {'yes' if data.get('loyalty') else 'no'}, marketing " + (
            "yes" if data.get("marketing") else "no"
        )
    elif kind == USER_CONSENTS_CHANGED:
        detail = "marketing " + ("yes" if data.get("marketing") else "no")
    return {
        "version": event.get("aggregateversion"),
        "time": event["time"],
        "kind": kind.rsplit(".", 1)[-1].replace("_", " "),
        "type": kind,
        "detail": detail,
        "event_id": event["id"],
    }


def _points_over_time(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Loyalty points after each of the person's events, by the loyalty projection's fold
    (without the early-adopter bonus, which depends on every other user)."""
    state: loyalty.Loyalty | None = None
    points: list[dict[str, Any]] = []
    for raw in sorted(events, key=lambda e: (str(e["time"]), str(e["id"]))):
        state = loyalty.evolve(state, decode_event(orjson.dumps(raw)))
        points.append({"time": raw["time"], "points": state.points if state else 0})
    return points
