"""Running a command: load state, decide (pure), commit; decide again on a version conflict.

Every command has one shape, a ``CommandHandler``:

- ``load(command)`` reads the state the command decides on (I/O; a
  precondition such as "the owner exists" raises here);
- ``decide(state, command)`` is the aggregate's pure rule: the new event
  data, or a domain error (no I/O, no clock, no HTTP);
- ``record(state, command, events)`` wraps the events in envelopes and adds
  the guarded side writes and the response.

``CommandRunner.run`` answers a repeated Idempotency-Key from its record,
then loads, decides and commits through the unit of work; when another writer
took the next version first, it loads and decides again on fresh state
(bounded, with jittered backoff on the injected clock).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

import msgspec

from chalicelib.adapters.idempotency import IdempotencyKey, StoredResponse
from chalicelib.adapters.observability import count_appended
from chalicelib.adapters.unit_of_work import (
    IdempotencyRecord,
    KeyAlreadyRecorded,
    UnitOfWork,
    Write,
)
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.events import CloudEvent
from chalicelib.domain.exceptions import ConcurrencyConflict, Conflict

__all__ = ["MAX_ATTEMPTS", "Changes", "CommandHandler", "CommandRunner"]

MAX_ATTEMPTS = 40

S = TypeVar("S")
C = TypeVar("C", contravariant=True)
E = TypeVar("E")


class Changes(msgspec.Struct, frozen=True):
    """What one decision commits: events, guarded side writes, and the response."""

    response: StoredResponse
    events: Sequence[CloudEvent] = ()
    writes: Sequence[Write] = ()


class CommandHandler(Protocol[S, C, E]):
    """A command family's load, pure decide and record (see the module docstring)."""

    def load(self, command: C) -> S: ...

    def decide(self, state: S, command: C) -> Sequence[E]: ...

    def record(self, state: S, command: C, events: Sequence[E]) -> Changes: ...


class CommandRunner:
    """Runs commands against a unit of work (the one place commands commit)."""

    def __init__(self, unit_of_work: UnitOfWork, clock: Clock = SYSTEM_CLOCK) -> None:
        self._uow = unit_of_work
        self._clock = clock

    def run(
        self,
        handler: CommandHandler[S, C, E],
        command: C,
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None = None,
    ) -> StoredResponse:
        """Decide and commit; the response (the recorded one for a repeated key).

        ``scope`` is the route the key belongs to (the caller's route supplies
        it). IdempotencyKeyReused if the key was first used with another body,
        also when both requests race.
        """
        if idempotency_key is not None:
            recorded = self._uow.recorded(scope, idempotency_key)
            if recorded is not None:
                return recorded
        for attempt in range(MAX_ATTEMPTS):
            state = handler.load(command)
            changes = handler.record(state, command, handler.decide(state, command))
            if not changes.events and not changes.writes and idempotency_key is None:
                return changes.response
            record = (
                None
                if idempotency_key is None
                else IdempotencyRecord(scope, idempotency_key, changes.response)
            )
            try:
                self._uow.commit(changes.events, changes.writes, record)
            except KeyAlreadyRecorded:
                assert idempotency_key is not None
                recorded = self._uow.recorded(scope, idempotency_key)
                if recorded is not None:
                    return recorded
            except ConcurrencyConflict:
                pass
            else:
                count_appended(e.type for e in changes.events)
                return changes.response
            # Another writer took a version (or won a race): decide again on fresh state.
            self._clock.sleep(random.uniform(0, min(0.005 * 2 ** min(attempt, 6), 0.3)))
        raise Conflict("too many concurrent writers on this resource; retry", code="conflict")
