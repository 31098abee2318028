"""The command runner on in-memory fakes: idempotency, retry on a version conflict, give-up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest

from chalicelib.adapters.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.adapters.unit_of_work import Put
from chalicelib.domain.events import AccountDeposited, new_event
from chalicelib.domain.exceptions import Conflict, IdempotencyKeyReused
from chalicelib.service.commands import MAX_ATTEMPTS, Changes
from tests.fakes import Services, services

KEY = IdempotencyKey(caller="ada", key="k-1", fingerprint="body-1")


@dataclass(frozen=True)
class Append:
    """A test command: append one deposit to ``subject``."""

    subject: str


class AppendAfterLoad:
    """Appends the next version of a test aggregate; the response names that version."""

    def __init__(self, world: Services) -> None:
        self._world = world
        self.loads = 0

    def load(self, command: Append) -> int:
        self.loads += 1
        return len(self._world.ledger.raw_events(command.subject))

    def decide(self, state: int, command: Append) -> list[AccountDeposited]:
        return [AccountDeposited(account_id=command.subject, amount=Decimal("1.00"))]

    def record(self, state: int, command: Append, events: Sequence[AccountDeposited]) -> Changes:
        envelopes = [
            new_event(
                data, subject=command.subject, version=state + i, time=self._world.clock.now()
            )
            for i, data in enumerate(events, 1)
        ]
        return Changes(StoredResponse(Outcome.CREATED, {"version": state + 1}), envelopes)


def test_a_repeated_key_gets_the_first_response_and_appends_nothing() -> None:
    # GIVEN a command committed with an Idempotency-Key
    world = services()
    handler = AppendAfterLoad(world)
    first = world.runner.run(handler, Append("a"), scope="POST /a", idempotency_key=KEY)
    # WHEN the same caller sends the same key and body again
    again = world.runner.run(handler, Append("a"), scope="POST /a", idempotency_key=KEY)
    # THEN it gets the first response, without loading or committing again
    assert again == first
    assert (world.ledger.count(), world.uow.commits, handler.loads) == (1, 1, 1)


def test_a_key_reused_with_another_body_is_refused() -> None:
    # GIVEN a committed key
    world = services()
    world.runner.run(AppendAfterLoad(world), Append("a"), scope="POST /a", idempotency_key=KEY)
    # WHEN the key comes back with another body
    other = IdempotencyKey(caller="ada", key="k-1", fingerprint="body-2")
    # THEN it is refused, and nothing is appended
    with pytest.raises(IdempotencyKeyReused):
        world.runner.run(
            AppendAfterLoad(world), Append("a"), scope="POST /a", idempotency_key=other
        )
    assert world.ledger.count() == 1


def test_keys_of_other_callers_and_other_routes_never_meet() -> None:
    # GIVEN ada's key on one route
    world = services()
    handler = AppendAfterLoad(world)
    world.runner.run(handler, Append("a"), scope="POST /a", idempotency_key=KEY)
    # WHEN grace uses the same key there, and ada uses it on another route
    grace = IdempotencyKey(caller="grace", key="k-1", fingerprint="body-1")
    world.runner.run(handler, Append("a"), scope="POST /a", idempotency_key=grace)
    world.runner.run(handler, Append("b"), scope="POST /b", idempotency_key=KEY)
    # THEN each ran its own command
    assert world.ledger.count() == 3


def test_an_expired_key_runs_the_command_again() -> None:
    # GIVEN a key recorded a day and a minute ago (the clock moves; nothing sleeps)
    world = services()
    handler = AppendAfterLoad(world)
    world.runner.run(handler, Append("a"), scope="POST /a", idempotency_key=KEY)
    world.clock.advance(timedelta(hours=24, minutes=1))
    # WHEN it comes back
    again = world.runner.run(handler, Append("a"), scope="POST /a", idempotency_key=KEY)
    # THEN it is a new command
    assert again.body == {"version": 2}
    assert world.ledger.count() == 2


def test_a_version_taken_by_another_writer_is_decided_again_on_fresh_state() -> None:
    # GIVEN a rival that appends version 1 between our load and our commit
    world = services()
    rival = AppendAfterLoad(world)
    world.uow.before_commit = lambda: world.runner.run(rival, Append("a"), scope="rival")
    handler = AppendAfterLoad(world)
    # WHEN we run
    response = world.runner.run(handler, Append("a"), scope="POST /a")
    # THEN we loaded again after the conflict and took version 2
    assert response.body == {"version": 2}
    assert handler.loads == 2
    assert [e["aggregateversion"] for e in world.ledger.events("a")] == [1, 2]


def test_a_key_recorded_by_a_racing_request_answers_its_response() -> None:
    # GIVEN a request with our key that commits between our lookup and our commit
    world = services()
    racer = AppendAfterLoad(world)
    world.uow.before_commit = lambda: world.runner.run(
        racer, Append("a"), scope="POST /a", idempotency_key=KEY
    )
    # WHEN we commit
    ours = world.runner.run(
        AppendAfterLoad(world), Append("a"), scope="POST /a", idempotency_key=KEY
    )
    # THEN we answer the racer's response and appended nothing ourselves
    assert ours.body == {"version": 1}
    assert world.ledger.count() == 1


def test_a_side_write_that_finds_its_item_raises_its_conflict_and_commits_nothing() -> None:
    # GIVEN a lock item that exists already
    world = services()
    taken = Conflict("taken", code="email_taken")

    class Locking(AppendAfterLoad):
        def record(
            self, state: int, command: Append, events: Sequence[AccountDeposited]
        ) -> Changes:
            changes = super().record(state, command, events)
            lock = Put("users", {"pk": "lock"}, conflict=taken)
            return Changes(changes.response, changes.events, [lock])

    world.runner.run(Locking(world), Append("a"), scope="s")
    # WHEN another command needs the same lock
    with pytest.raises(Conflict) as raised:
        world.runner.run(Locking(world), Append("b"), scope="s")
    # THEN its conflict is raised and its event is not in the ledger
    assert raised.value is taken
    assert world.ledger.raw_events("b") == []


def test_endless_conflicts_give_up_with_409_after_backing_off_on_the_clock() -> None:
    # GIVEN a command that always decides on a version already taken
    world = services()
    world.runner.run(AppendAfterLoad(world), Append("a"), scope="s")

    class Stale(AppendAfterLoad):
        def load(self, command: Append) -> int:
            return 0

    started = world.clock.now()
    # WHEN it runs
    with pytest.raises(Conflict) as raised:
        world.runner.run(Stale(world), Append("a"), scope="s")
    # THEN it gave up after MAX_ATTEMPTS, backing off on the injected clock (no wall-clock sleep)
    assert raised.value.code == "conflict"
    assert len(world.clock.slept) == MAX_ATTEMPTS
    waited = (world.clock.now() - started).total_seconds()
    assert waited == pytest.approx(sum(world.clock.slept), abs=1e-3)
    assert world.ledger.count() == 1
