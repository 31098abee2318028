"""User lifecycle commands: join or leave loyalty, change consents.

A command folds the user's ledger events (the source of truth), decides with
the pure rules of ``user_aggregate`` and commits through the CommandRunner:
the next version is taken with a conditional write, so two concurrent
changes cannot both take it and the loser decides again on fresh state. The
users table item (what ``GET /users/{id}`` reads) is updated in the same
unit of work, so it always equals the fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool

from chalicelib.adapters.idempotency import Outcome, StoredResponse
from chalicelib.adapters.unit_of_work import EventStore, Items, Update
from chalicelib.domain import user_aggregate
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.events import new_event
from chalicelib.domain.exceptions import NotFound
from chalicelib.domain.user_aggregate import ChangeConsents, ChangeLoyalty, UserEvent, UserState
from chalicelib.service.commands import Changes, CommandRunner
from chalicelib.service.users import UserRegistry, user_pk

__all__ = ["SetConsents", "SetLoyalty", "UserLifecycle"]


class SetLoyalty(BaseModel):
    """The body of ``PUT /users/{id}/loyalty``."""

    # Built on its route's first request: a route builds only its own request model.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
    member: StrictBool


class SetConsents(BaseModel):
    """The body of ``PUT /users/{id}/consents``."""

    # Built on its route's first request: a route builds only its own request model.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
    marketing: StrictBool


LifecycleCommand = ChangeLoyalty | ChangeConsents


class _Lifecycle:
    """The lifecycle commands' load and record (user_aggregate.decide decides)."""

    def __init__(self, users: Items, ledger: EventStore, clock: Clock) -> None:
        self._users = users
        self._ledger = ledger
        self._clock = clock

    def load(self, command: LifecycleCommand) -> UserState | None:
        return user_aggregate.fold(self._ledger.load(command.user_id))

    def decide(self, state: UserState | None, command: LifecycleCommand) -> list[UserEvent]:
        return user_aggregate.decide(state, command)

    def record(
        self, state: UserState | None, command: LifecycleCommand, events: Sequence[UserEvent]
    ) -> Changes:
        response = StoredResponse(Outcome.COMPLETED, {})
        if not events:
            return Changes(response)
        assert state is not None  # decide raised NotFound otherwise
        # Times never go backwards along versions, whatever the writers' clocks say.
        time = max(self._clock.now(), state.last_time)
        envelopes = [
            new_event(data, subject=command.user_id, version=state.version + i, time=time)
            for i, data in enumerate(events, 1)
        ]
        after = user_aggregate.fold(envelopes, state)
        assert after is not None
        update = Update(
            self._users.name,
            {"pk": user_pk(after.user_id)},
            {
                "loyalty": after.loyalty,
                "consents": {"marketing": after.marketing},
                "version": after.version,
            },
        )
        return Changes(response, envelopes, [update])


class UserLifecycle:
    """Runs lifecycle commands on the user aggregate."""

    def __init__(
        self,
        users: Items,
        ledger: EventStore,
        runner: CommandRunner,
        registry: UserRegistry,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._ledger = ledger
        self._runner = runner
        self._registry = registry
        self._handler = _Lifecycle(users, ledger, clock)

    def state(self, user_id: str) -> UserState | None:
        """The user folded from the ledger (None if there is none)."""
        return user_aggregate.fold(self._ledger.load(user_id))

    def change(self, command: LifecycleCommand, *, scope: str) -> dict[str, Any]:
        """Apply ``command``; the user afterwards (as ``GET /users/{id}``).

        NotFound for an unknown or erased user. Asking for the current value
        appends nothing and answers the same body. ``scope`` is the route's.
        """
        self._runner.run(self._handler, command, scope=scope)
        view = self._registry.get(command.user_id, consistent=True)
        if view.get("erased"):
            raise NotFound(f"user {command.user_id} not found")
        return view
