"""In-memory fakes of the write side's ports, and a clock that moves only when told.

With them, domain and service tests run in milliseconds without moto: the
ledger, the tables side writes address (users, email locks, data keys), the
account snapshots (the read model commands start from), the unit of work
that commits all of it atomically, and the clock. ``services()`` wires the
real services (chalicelib's, unchanged) onto these fakes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from chalicelib.adapters.idempotency import IdempotencyKey, StoredResponse, replay
from chalicelib.adapters.personal_data import DataKeyStore
from chalicelib.adapters.unit_of_work import (
    Delete,
    IdempotencyRecord,
    KeyAlreadyRecorded,
    Put,
    Write,
)
from chalicelib.domain.events import CloudEvent, parse_event
from chalicelib.domain.exceptions import ConcurrencyConflict, DomainError
from chalicelib.service.accounts import AccountService
from chalicelib.service.commands import CommandRunner
from chalicelib.service.purchases import PurchaseService
from chalicelib.service.user_lifecycle import UserLifecycle
from chalicelib.service.users import UserRegistry
from projections.accounts import Account

__all__ = [
    "FakeClock",
    "FakeDataKeys",
    "FakeItems",
    "FakeLedger",
    "FakeSnapshots",
    "FakeTables",
    "FakeUnitOfWork",
    "Services",
    "services",
]

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
USERS_TABLE = "users"
KEYS_TABLE = "personal_data_keys"


class FakeClock:
    """A clock that moves only when advanced or slept on; ``slept`` records the waits."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += timedelta(seconds=seconds)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class FakeLedger:
    """The ledger in memory: per aggregate, version -> CloudEvent JSON."""

    def __init__(self) -> None:
        self.aggregates: dict[str, dict[int, str]] = {}
        # Held by FakeUnitOfWork while it commits, so a read never sees half a commit.
        self.lock = threading.RLock()

    def load(self, aggregate_id: str, *, after_version: int = 0) -> list[CloudEvent]:
        return [
            parse_event(raw) for raw in self.raw_events(aggregate_id, after_version=after_version)
        ]

    def raw_events(self, aggregate_id: str, *, after_version: int = 0) -> list[str]:
        with self.lock:
            versions = self.aggregates.get(aggregate_id, {})
            return [versions[v] for v in sorted(versions) if v > after_version]

    def raw_event(self, aggregate_id: str, version: int) -> str | None:
        with self.lock:
            return self.aggregates.get(aggregate_id, {}).get(version)

    def events(self, aggregate_id: str) -> list[dict[str, Any]]:
        """The aggregate's events as dicts, in version order (for assertions)."""
        return [orjson.loads(raw) for raw in self.raw_events(aggregate_id)]

    def count(self) -> int:
        """How many events the ledger holds."""
        return sum(len(versions) for versions in self.aggregates.values())


class FakeItems:
    """One table of FakeTables as the Items port."""

    def __init__(self, tables: FakeTables, name: str) -> None:
        self._tables = tables
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        item = self._tables.items.get(self._name, {}).get(_key(key))
        return None if item is None else dict(item)


def _key(key: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(key.items()))


class FakeTables:
    """Every table side writes address, by name: key -> item."""

    def __init__(self) -> None:
        self.items: dict[str, dict[tuple[tuple[str, Any], ...], dict[str, Any]]] = {}

    def table(self, name: str) -> FakeItems:
        return FakeItems(self, name)

    def all(self, name: str) -> list[dict[str, Any]]:
        """Every item of table ``name`` (for assertions)."""
        return [dict(item) for item in self.items.get(name, {}).values()]


@dataclass
class _Recorded:
    fingerprint: str
    response: StoredResponse
    expires_at: datetime


class FakeUnitOfWork:
    """Commits events, side writes and idempotency records atomically, under a lock.

    Conditions are those of the DynamoDB adapter: an event's version must be
    free, a Put's item absent, an Update's item present, a key unrecorded (or
    expired). ``before_commit`` runs once, before the next commit, outside the
    lock: a test's rival writer commits there; ``every_commit`` runs before
    each commit (a test holds writers there to make them race).
    """

    def __init__(
        self,
        ledger: FakeLedger,
        tables: FakeTables,
        clock: FakeClock,
        ttl: timedelta = timedelta(hours=24),
    ) -> None:
        self._ledger = ledger
        self._tables = tables
        self._clock = clock
        self._ttl = ttl
        self._lock = ledger.lock
        self.records: dict[tuple[str, str, str], _Recorded] = {}
        self.commits = 0
        self.conflicts = 0
        self.before_commit: Callable[[], object] | None = None
        self.every_commit: Callable[[], object] | None = None

    def recorded(self, scope: str, key: IdempotencyKey) -> StoredResponse | None:
        found = self.records.get((scope, key.caller, key.key))
        if found is None or found.expires_at < self._clock.now():
            return None
        return replay(found.fingerprint, key, found.response)

    def commit(
        self,
        events: Sequence[CloudEvent],
        writes: Sequence[Write],
        record: IdempotencyRecord | None,
    ) -> None:
        hook, self.before_commit = self.before_commit, None
        for run in (hook, self.every_commit):
            if run is not None:
                run()
        with self._lock:
            self._check(events, writes, record)
            for event in events:
                versions = self._ledger.aggregates.setdefault(event.subject, {})
                versions[event.aggregateversion] = event.to_json().decode()
            for write in writes:
                self._apply(write)
            if record is not None:
                self.records[(record.scope, record.key.caller, record.key.key)] = _Recorded(
                    record.key.fingerprint, record.response, self._clock.now() + self._ttl
                )
            self.commits += 1

    def _check(
        self,
        events: Sequence[CloudEvent],
        writes: Sequence[Write],
        record: IdempotencyRecord | None,
    ) -> None:
        if record is not None:
            found = self.records.get((record.scope, record.key.caller, record.key.key))
            if found is not None and found.expires_at >= self._clock.now():
                raise KeyAlreadyRecorded(record.scope)
        conflict: DomainError | None = None
        failed = False
        for event in events:
            failed |= event.aggregateversion in self._ledger.aggregates.get(event.subject, {})
        for write in writes:
            table = self._tables.items.get(write.table, {})
            if isinstance(write, Put):
                taken = _key({name: write.item[name] for name in write.key}) in table
                failed |= taken
                if taken and conflict is None:
                    conflict = write.conflict
            elif not isinstance(write, Delete):
                failed |= _key(write.key) not in table
        if conflict is not None:
            raise conflict
        if failed:
            self.conflicts += 1
            raise ConcurrencyConflict(events[0].subject if events else "")

    def _apply(self, write: Write) -> None:
        table = self._tables.items.setdefault(write.table, {})
        if isinstance(write, Put):
            table[_key({name: write.item[name] for name in write.key})] = dict(write.item)
        elif isinstance(write, Delete):
            table.pop(_key(write.key), None)
        else:
            table[_key(write.key)].update(write.values)


class FakeSnapshots:
    """Account snapshots in memory (the read model account commands start from)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def load(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def save(self, account: Account) -> None:
        kept = self.accounts.get(account.id)
        if kept is None or kept.version < account.version:
            self.accounts[account.id] = account


class FakeDataKeys(DataKeyStore):
    """Per-user data keys kept in FakeTables' key table (plaintext: nothing to protect)."""

    def __init__(self, tables: FakeTables) -> None:  # no KMS, no boto3 table
        self._fake_tables = tables

    def generate(self, user_id: str) -> tuple[bytes, dict[str, Any]]:
        key = os.urandom(32)
        item = {"user_id": user_id, "encrypted_key": key}
        put = {
            "Put": {
                "TableName": KEYS_TABLE,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(user_id)",
            }
        }
        return key, put

    def key(self, user_id: str) -> bytes | None:
        item = self._fake_tables.table(KEYS_TABLE).get({"user_id": user_id})
        return None if item is None else bytes(item["encrypted_key"])

    def delete(self, user_id: str) -> dict[str, Any]:
        return {"Delete": {"TableName": KEYS_TABLE, "Key": {"user_id": user_id}}}

    def forget(self, user_id: str) -> None:
        """Nothing cached."""

    def committed(self, user_id: str, key: bytes) -> None:
        """Nothing cached."""


@dataclass
class Services:
    """The real services wired onto the fakes, with the fakes to look into."""

    clock: FakeClock = field(default_factory=FakeClock)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    tables: FakeTables = field(default_factory=FakeTables)
    snapshots: FakeSnapshots = field(default_factory=FakeSnapshots)
    uow: FakeUnitOfWork = field(init=False)
    runner: CommandRunner = field(init=False)
    users: UserRegistry = field(init=False)
    lifecycle: UserLifecycle = field(init=False)
    accounts: AccountService = field(init=False)
    purchases: PurchaseService = field(init=False)

    def __post_init__(self) -> None:
        self.uow = FakeUnitOfWork(self.ledger, self.tables, self.clock)
        self.runner = CommandRunner(self.uow, self.clock)
        users = self.tables.table(USERS_TABLE)
        keys = FakeDataKeys(self.tables)
        self.users = UserRegistry(users, self.ledger, self.runner, keys, clock=self.clock)
        self.lifecycle = UserLifecycle(users, self.ledger, self.runner, self.users, self.clock)
        self.accounts = AccountService(
            self.ledger, self.runner, self.snapshots, self.users.exists, self.clock
        )
        self.purchases = PurchaseService(self.ledger, self.runner, self.users.exists, self.clock)


def services() -> Services:
    """Fresh services on empty fakes."""
    return Services()
