"""The projector and the read-model store against moto's DynamoDB."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import orjson
import pytest
from tf_outputs_to_chalice import REPLAY_WORKER_HANDLER, lambda_timeouts

from chalicelib.adapters import observability
from chalicelib.adapters.read_model_catalog import read_model, read_models
from chalicelib.adapters.read_models import ReadModelStore, Stored
from chalicelib.domain.events import (
    AccountDeposited,
    AccountOpened,
    AccountWithdrawn,
    LoyaltyLeft,
    PurchaseMade,
    UserCreated,
    new_event,
)
from chalicelib.domain.exceptions import (
    ConcurrencyConflict,
    InjectedFault,
    InvalidEvent,
    OutOfOrderEvent,
)
from chalicelib.service.projector import EVENT_COMMIT_BOUND, ProjectorStats
from chalicelib.service.projector import project_records as project
from projections.accounts import Account
from projections.loyalty import SETTLE_PENDING_AT

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def table(session: boto3.session.Session) -> Any:
    return session.resource("dynamodb").create_table(
        TableName="read-models",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


ACCOUNTS = read_model("accounts")
LOYALTY = read_model("loyalty")


def project_records(
    records: list[Any], store: ReadModelStore, early_adopters: int = 100
) -> ProjectorStats:
    """The projector over every declared read model."""
    return project(records, store, read_models(SimpleNamespace(early_adopter_count=early_adopters)))


def account(store: ReadModelStore, account_id: str) -> Account | None:
    return store.state(ACCOUNTS, account_id)


def account_events(acc: str = "acc-1") -> list[bytes]:
    return [
        new_event(
            AccountOpened(account_id=acc, owner_id="u1", currency="EUR"),
            subject=acc,
            version=1,
            time=T0,
        ).to_json(),
        new_event(
            AccountDeposited(account_id=acc, amount="100.00"),
            subject=acc,
            version=2,
            time=T0 + timedelta(seconds=1),
        ).to_json(),
        new_event(
            AccountWithdrawn(account_id=acc, amount="30.50"),
            subject=acc,
            version=3,
            time=T0 + timedelta(seconds=2),
        ).to_json(),
    ]


def user_created(uid: str, seconds: int = 0) -> bytes:
    data = UserCreated(
        user_id=uid, name="Ada", lastname="L", email=f"{uid}@example.com", address="x", loyalty=True
    )
    return new_event(data, subject=uid, version=1, time=T0 + timedelta(seconds=seconds)).to_json()


def purchase(uid: str, version: int, amount: str) -> bytes:
    data = PurchaseMade(user_id=uid, order_id=f"o{version}", amount=amount, currency="EUR")
    return new_event(data, subject=f"purchases-{uid}", version=version, time=T0).to_json()


def test_projector_applies_events_and_skips_duplicates(table: Any) -> None:
    # GIVEN a batch where the deposit is delivered twice
    store = ReadModelStore(table)
    events = account_events()
    # WHEN projected
    stats = project_records([events[0], events[1], events[1], events[2]], store)
    # THEN the read model has every event once
    assert account(store, "acc-1") == Account("acc-1", "u1", "EUR", 6950, 3)
    assert (stats.applied, stats.duplicates) == (3, 1)
    # AND a whole redelivery of the batch changes nothing
    assert project_records(events, store).duplicates == 3
    assert account(store, "acc-1") == Account("acc-1", "u1", "EUR", 6950, 3)


def test_projector_raises_on_a_gap_so_the_batch_is_retried(table: Any) -> None:
    store = ReadModelStore(table)
    events = account_events()
    with pytest.raises(OutOfOrderEvent):
        project_records([events[0], events[2]], store)
    # The event before the gap was applied; the retry with the missing one completes it.
    assert account(store, "acc-1").version == 1  # type: ignore[union-attr]
    project_records([events[1], events[2]], store)
    assert account(store, "acc-1").balance_cents == 6950  # type: ignore[union-attr]


@pytest.mark.parametrize("record", [b"not json", b'{"specversion":"1.0"}', "{}"])
def test_projector_rejects_unparseable_records(table: Any, record: Any) -> None:
    with pytest.raises(InvalidEvent):
        project_records([record], ReadModelStore(table))


def test_projector_keeps_loyalty_points_and_gives_early_places(table: Any) -> None:
    # GIVEN a program with one early-adopter place
    store = ReadModelStore(table)
    # WHEN two users register and one of them purchases (before and after registering)
    project_records(
        [
            purchase("u1", 1, "25.99"),
            user_created("u1"),
            user_created("u2", 5),
            purchase("u1", 2, "10.00"),
        ],
        store,
        early_adopters=1,
    )
    # THEN points accrue per whole unit and only the first user gets the bonus
    assert loyalty_of(store, "u1") == {
        "user_id": "u1",
        "enrolled": True,
        "points": 535,
        "tier": "silver",
    }
    assert loyalty_of(store, "u2") == {
        "user_id": "u2",
        "enrolled": True,
        "points": 0,
        "tier": "bronze",
    }
    assert store.state(LOYALTY, "nobody") is None


def loyalty_of(store: ReadModelStore, user_id: str) -> dict[str, Any] | None:
    state = store.state(LOYALTY, user_id)
    return None if state is None else state.to_dict()


def test_a_stale_writer_cannot_overwrite_a_newer_version(table: Any) -> None:
    # GIVEN a read model at version 3
    store = ReadModelStore(table)
    project_records(account_events(), store)
    stale = Stored(Account("acc-1", "u1", "EUR", 1, 2), {"acc-1": 2})
    # WHEN a projector that read version 1 writes, THEN the write is refused
    with pytest.raises(ConcurrencyConflict):
        store.save(ACCOUNTS, "acc-1", stale, expected_version=1)
    # AND a rebuild carrying an older version leaves the newer item alone
    outcome = store.write_all(ACCOUNTS, {"acc-1": stale.state}, {"acc-1": {"acc-1": 2}})
    assert (outcome.written, outcome.skipped_newer) == (0, 1)
    assert account(store, "acc-1").version == 3  # type: ignore[union-attr]


def test_a_caught_up_read_folds_the_ledger_tail_the_projector_has_not_applied(
    table: Any,
) -> None:
    # GIVEN the projector applied the first event of an account, the ledger holds three
    store = ReadModelStore(table)
    events = account_events()
    project_records(events[:1], store)
    asked: list[tuple[str, int]] = []

    def tail(key: str, after_version: int) -> list[bytes]:
        asked.append((key, after_version))
        return events[after_version:]

    # WHEN read caught up
    state = store.caught_up(ACCOUNTS, "acc-1", tail)
    # THEN only the events after the item's position were read, and the state is current
    assert asked == [("acc-1", 1)]
    assert state == Account("acc-1", "u1", "EUR", 6950, 3)
    assert store.caught_up(ACCOUNTS, "nobody", lambda key, after: []) is None


def test_a_failing_read_model_leaves_the_others_current_and_fails_the_batch(
    table: Any,
) -> None:
    # GIVEN the statements read model fails on everything (its fault switch is on)
    store = ReadModelStore(table)

    def guard(name: str) -> None:
        if name == "statements":
            raise InjectedFault("statements: drill")

    models = read_models()
    events = account_events()
    # WHEN a batch of account events and a purchase is projected
    with pytest.raises(InjectedFault):
        project(
            [*events, purchase("u1", 1, "12.00"), user_created("u1")], store, models, guard=guard
        )
    # THEN accounts and loyalty applied the whole batch, statements nothing
    assert account(store, "acc-1") == Account("acc-1", "u1", "EUR", 6950, 3)
    assert loyalty_of(store, "u1") is not None
    assert store.load(read_model("statements"), "acc-1") is None
    # AND once the switch is off, the retried batch completes statements and doubles nothing
    stats = project([*events, purchase("u1", 1, "12.00"), user_created("u1")], store, models)
    assert (stats.applied, stats.duplicates) == (3, 2)
    statements = store.state(read_model("statements"), "acc-1")
    assert statements is not None and statements.current.closing_cents == 6950
    assert account(store, "acc-1") == Account("acc-1", "u1", "EUR", 6950, 3)


def test_the_record_a_read_model_failed_on_is_logged_failed_with_the_model(
    table: Any,
) -> None:
    # GIVEN a log line catcher on the platform's logger
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(observability.logger.registered_formatter)
    platform_logger = logging.getLogger(observability.SERVICE)
    platform_logger.addHandler(handler)

    def guard(name: str) -> None:
        if name == "statements":
            raise InjectedFault("statements: drill")

    # WHEN statements fails on an account's opening
    try:
        with pytest.raises(InjectedFault):
            project(
                account_events()[:1],
                ReadModelStore(table),
                read_models(),
                observer=observability.BatchObserver("projector"),
                guard=guard,
            )
    finally:
        platform_logger.removeHandler(handler)
    # THEN its line says failed, and which read model failed why
    (line,) = [json.loads(raw) for raw in buffer.getvalue().splitlines() if raw.startswith("{")]
    assert (line["consumer"], line["outcome"]) == ("projector", "failed")
    assert line["reason"].startswith("statements: InjectedFault")


def project_live(
    records: list[bytes],
    store: ReadModelStore,
    history: Any,
    clock: Any,
) -> ProjectorStats:
    """The projector with the ledger's history and a clock (no early-adopter places)."""
    models = read_models(SimpleNamespace(early_adopter_count=0))
    return project(records, store, models, history, clock=clock)


def order(uid: str, n: int, at: datetime, amount: str = "10.00") -> bytes:
    """Purchase ``n`` of ``uid``: an aggregate of its own, as the API writes it."""
    data = PurchaseMade(user_id=uid, order_id=f"o{n}", amount=amount, currency="EUR")
    return new_event(data, subject=f"purchase-{uid}-{n}", version=1, time=at).to_json()


def test_purchase_positions_live_outside_the_users_item(table: Any) -> None:
    # GIVEN a member with many purchases
    store = ReadModelStore(table)
    records = [user_created("u1")] + [order("u1", n, T0 + timedelta(minutes=n)) for n in range(40)]
    project_records(records, store, early_adopters=0)
    # WHEN one of them is delivered again, long after
    stats = project_records([records[1]], store, early_adopters=0)
    # THEN it is skipped, the points count it once
    assert (stats.applied, stats.duplicates) == (0, 1)
    assert loyalty_of(store, "u1")["points"] == 400  # type: ignore[index]
    # AND the user's item keeps only the user's position; each purchase has its own
    stored = store.load(LOYALTY, "u1")
    assert stored is not None and dict(stored.positions) == {"u1": 1}
    assert stored.version == 41
    assert store.applied(LOYALTY, "u1", "purchase-u1-7") == 1
    assert store.applied(LOYALTY, "u1", "purchase-u1-99") is None


def test_a_writer_that_lost_the_race_for_a_purchase_does_not_count_it_twice(table: Any) -> None:
    # GIVEN two projectors that both read the user's item before a purchase
    store = ReadModelStore(table)
    project_records([user_created("u1")], store, early_adopters=0)
    before = store.load(LOYALTY, "u1")
    assert before is not None
    purchase_record = order("u1", 1, T0 + timedelta(minutes=1))
    # WHEN the first applies it
    project_records([purchase_record], store, early_adopters=0)
    # THEN the second's write over what it read is refused
    with pytest.raises(ConcurrencyConflict):
        store.save(
            LOYALTY,
            "u1",
            Stored(before.state, before.positions, revision=before.version + 1),
            before.version,
            ("purchase-u1-1", 1),
        )
    # AND a retry of the record is a duplicate
    assert project_records([purchase_record], store, early_adopters=0).duplicates == 1
    assert loyalty_of(store, "u1")["points"] == 10  # type: ignore[index]


def _buyer(purchases: int) -> tuple[list[bytes], list[bytes]]:
    """A member's registration and ``purchases`` orders a minute apart: (user events, all)."""
    user = [user_created("u1")]
    return user, user + [order("u1", n, T0 + timedelta(minutes=n + 1)) for n in range(purchases)]


def test_the_projector_settles_pending_purchases_at_the_ledgers_watermark(table: Any) -> None:
    # GIVEN a member buying every minute, three times as many purchases as a settling takes
    # (it settles several times), each projected a second after it was made
    store = ReadModelStore(table)
    purchases = 3 * SETTLE_PENDING_AT
    user_events, records = _buyer(purchases)
    now = [T0]

    def history(aggregate_id: str) -> list[bytes]:
        return user_events if aggregate_id == "u1" else []

    # WHEN each record is projected
    for record in records:
        now[0] = datetime.fromisoformat(orjson.loads(record)["time"]) + timedelta(seconds=1)
        project_live([record], store, history, clock=lambda: now[0])
    # THEN every purchase counts, and only the last few minutes' are still pending
    stored = store.load(LOYALTY, "u1")
    assert stored is not None and stored.state.points == purchases * 10
    assert len(stored.state.pending) < SETTLE_PENDING_AT + 3


def test_pending_purchases_wait_while_a_user_event_is_on_its_way(table: Any) -> None:
    # GIVEN a member whose leaving is in the ledger but not yet projected
    store = ReadModelStore(table)
    # (more purchases than a settling takes: only the unknown membership holds them back)
    _, records = _buyer(2 * SETTLE_PENDING_AT)
    left = new_event(
        LoyaltyLeft(user_id="u1"), subject="u1", version=2, time=T0 + timedelta(minutes=20)
    ).to_json()
    ledger = [records[0], left]
    # WHEN the purchases are projected long after (the watermark is past all of them)
    project_live(records, store, lambda _: ledger, clock=lambda: T0 + timedelta(days=1))
    # THEN none is settled yet: the membership after minute 20 is not known
    stored = store.load(LOYALTY, "u1")
    assert stored is not None and len(stored.state.pending) == 2 * SETTLE_PENDING_AT
    # AND when the leaving comes, the purchases made while a member are the points
    project_live([left], store, lambda _: ledger, clock=lambda: T0 + timedelta(days=1))
    assert loyalty_of(store, "u1")["points"] == 19 * 10  # type: ignore[index]


def test_the_watermark_leaves_room_for_the_slowest_user_command() -> None:
    # GIVEN the functions' timeouts: one bounds the gap between a user event's time and its
    # commit (the API appends user events; any function might one day, except the replay
    # worker, which folds the archive into read models and has no grant on the ledger)
    timeouts = lambda_timeouts()
    timeouts.pop(REPLAY_WORKER_HANDLER)
    slowest = max(timeouts.values())
    # THEN the watermark trails the clock by more than the slowest function may run
    assert timedelta(seconds=slowest) < EVENT_COMMIT_BOUND
