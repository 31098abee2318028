"""The peer side of bench_replay.py: the same account events in pyeventsourcing.

The ``eventsourcing`` library (a benchmark-only dependency) is used through
its documented API, in memory (POPO, its default persistence):

* ``BankAccount`` is an ``Aggregate`` whose command methods are decorated
  with ``@event``; an ``Application`` saves them, so the stored events are the
  library's own (JSON-transcoded) records;
* reconstruction is ``app.repository.get(id)`` for every account;
* the projection is a ``Projection`` with a POPO tracking-recorder view,
  fed from an ``ApplicationSubscription`` (what ``ProjectionRunner`` runs in
  its processing thread, here in the calling thread so the run can be timed).

Loading the archive into the peer (commands + ``save``) is not part of either
timed figure: our replay's input is an archive that is already written too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.projection import ApplicationSubscription, Projection

from chalicelib.domain.events import ACCOUNT_DEPOSITED, ACCOUNT_OPENED, ACCOUNT_WITHDRAWN

__all__ = [
    "AccountBalances",
    "AccountBalancesView",
    "BankAccount",
    "PeerFigures",
    "load",
    "measure",
]

SAVE_EVERY = 1_000  # commands per Application.save call while loading


class BankAccount(Aggregate):
    """An account as a pyeventsourcing aggregate (amounts in integer cents)."""

    class Opened(Aggregate.Created):
        account_id: str
        owner_id: str
        currency: str

    class Deposited(Aggregate.Event):
        cents: int

    class Withdrawn(Aggregate.Event):
        cents: int

    @staticmethod
    def create_id(account_id: str) -> UUID:
        return UUID(account_id)

    @event(Opened)
    def __init__(self, account_id: str, owner_id: str, currency: str) -> None:
        self.owner_id = owner_id
        self.currency = currency
        self.balance_cents = 0

    @event(Deposited)
    def deposit(self, cents: int) -> None:
        self.balance_cents += cents

    def withdraw(self, cents: int) -> None:
        if cents > self.balance_cents:
            raise ValueError(f"account {self.id}: withdrawal of {cents} past the balance")
        self._withdrawn(cents)

    @event(Withdrawn)
    def _withdrawn(self, cents: int) -> None:
        self.balance_cents -= cents


class AccountBalancesView(POPOTrackingRecorder):
    """Materialised view: balance in cents per account, with tracking."""

    def __init__(self) -> None:
        super().__init__()
        self._balances: dict[UUID, int] = {}

    def open(self, account_id: UUID, tracking: Tracking) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            self._balances[account_id] = 0
            self._insert_tracking(tracking)

    def add(self, account_id: UUID, cents: int, tracking: Tracking) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            self._balances[account_id] += cents
            self._insert_tracking(tracking)

    def balance(self, account_id: UUID) -> int:
        with self._database_lock:
            return self._balances[account_id]

    def accounts(self) -> int:
        with self._database_lock:
            return len(self._balances)


class AccountBalances(Projection[AccountBalancesView]):
    """The balances projection, one handler per event class."""

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _opened(self, domain_event: BankAccount.Opened, tracking: Tracking) -> None:
        self.view.open(domain_event.originator_id, tracking)

    @process_event.register
    def _deposited(self, domain_event: BankAccount.Deposited, tracking: Tracking) -> None:
        self.view.add(domain_event.originator_id, domain_event.cents, tracking)

    @process_event.register
    def _withdrawn(self, domain_event: BankAccount.Withdrawn, tracking: Tracking) -> None:
        self.view.add(domain_event.originator_id, -domain_event.cents, tracking)


def _cents(amount: str) -> int:
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0")[:2])


def _unique_in_order(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Each account event once, in version order (the archive re-sends a few)."""
    seen: dict[str, int] = {}
    for chunk in chunks:
        for line in chunk.splitlines():
            if not line:
                continue
            record = orjson.loads(line)
            subject, version = record["subject"], record["aggregateversion"]
            if version != seen.get(subject, 0) + 1:
                continue  # a re-delivered event; the synthetic archive has no gaps
            seen[subject] = version
            yield record


def load(chunks: Iterable[bytes]) -> tuple[Application[UUID], int]:
    """A POPO application holding the archive's events, saved through commands."""
    app: Application[UUID] = Application()
    accounts: dict[str, BankAccount] = {}
    touched: dict[str, BankAccount] = {}
    count = 0
    for record in _unique_in_order(chunks):
        data, subject = record["data"], record["subject"]
        if record["type"] == ACCOUNT_OPENED:
            account = BankAccount(subject, data["owner_id"], data["currency"])
            accounts[subject] = account
        elif record["type"] == ACCOUNT_DEPOSITED:
            account = accounts[subject]
            account.deposit(_cents(data["amount"]))
        elif record["type"] == ACCOUNT_WITHDRAWN:
            account = accounts[subject]
            account.withdraw(_cents(data["amount"]))
        else:
            continue
        touched[subject] = account
        count += 1
        if count % SAVE_EVERY == 0:
            app.save(*touched.values())
            touched.clear()
    app.save(*touched.values())
    return app, count


@dataclass(frozen=True)
class PeerFigures:
    """Seconds for each peer pass over ``events`` stored events."""

    events: int
    reconstruct_seconds: float
    project_seconds: float


def _reconstruct(app: Application[UUID], ids: Iterable[str]) -> dict[str, int]:
    get = app.repository.get
    balances: dict[str, int] = {}
    for account_id in ids:
        account: BankAccount = get(UUID(account_id))
        balances[account_id] = account.balance_cents
    return balances


def _project(app: Application[UUID]) -> AccountBalancesView:
    view = AccountBalancesView()
    projection = AccountBalances(view=view)
    last = app.recorder.max_notification_id() or 0
    with ApplicationSubscription(app, gt=view.max_tracking_id(app.name)) as subscription:
        for domain_event, tracking in subscription:
            projection.process_event(domain_event, tracking)
            if tracking.notification_id >= last:
                break
    return view


def measure(app: Application[UUID], events: int, expected_cents: Mapping[str, int]) -> PeerFigures:
    """Time one reconstruction of every account and one projection run; check the balances."""
    started = time.perf_counter()
    balances = _reconstruct(app, expected_cents)
    reconstruct_seconds = time.perf_counter() - started
    started = time.perf_counter()
    view = _project(app)
    project_seconds = time.perf_counter() - started
    if balances != expected_cents:
        raise SystemExit("peer reconstruction disagrees with our replay's balances")
    if view.accounts() != len(expected_cents) or any(
        view.balance(UUID(key)) != cents for key, cents in expected_cents.items()
    ):
        raise SystemExit("peer projection disagrees with our replay's balances")
    return PeerFigures(events, reconstruct_seconds, project_seconds)
