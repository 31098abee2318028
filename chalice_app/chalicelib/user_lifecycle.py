"""User lifecycle commands: join or leave loyalty, change consents.

A command folds the user's ledger events (the source of truth), decides with
the pure rules of ``user_aggregate`` and appends the new events through the
CommandRunner: the next version is taken with a conditional write, so two
concurrent changes cannot both take it and the loser decides again on fresh
state. The users table item (what ``GET /users/{id}`` reads) is updated in
the same transaction, so it always equals the fold.
"""

from __future__ import annotations

from typing import Any

from chalicelib.commands import CommandRunner, Decision
from chalicelib.events import new_event, utc_now
from chalicelib.exceptions import NotFound
from chalicelib.idempotency import Outcome, StoredResponse
from chalicelib.ledger import EventLedger
from chalicelib.user_aggregate import UserCommand, UserState, decide, fold
from chalicelib.users import UserRegistry, user_pk

__all__ = ["UserLifecycle"]


class UserLifecycle:
    """Runs lifecycle commands on the user aggregate."""

    def __init__(
        self, users_table: Any, ledger: EventLedger, runner: CommandRunner, registry: UserRegistry
    ) -> None:
        self._users = users_table
        self._ledger = ledger
        self._runner = runner
        self._registry = registry

    def state(self, user_id: str) -> UserState | None:
        """The user folded from the ledger (None if there is none)."""
        return fold(self._ledger.load(user_id))

    def change(self, user_id: str, command: UserCommand, scope: str) -> dict[str, Any]:
        """Apply ``command``; the user afterwards (as ``GET /users/{id}``).

        NotFound for an unknown or erased user. Asking for the current value
        appends nothing and answers the same body.
        """

        def run() -> Decision:
            state = self.state(user_id)
            changes = decide(state, command)
            if not changes:
                return Decision(response=StoredResponse(Outcome.COMPLETED, {}))
            assert state is not None  # decide raised otherwise
            # Times never go backwards along versions, whatever the writers' clocks say.
            time = max(utc_now(), state.last_time)
            events = [
                new_event(data, subject=user_id, version=state.version + i, time=time)
                for i, data in enumerate(changes, 1)
            ]
            after = fold(events, state)
            assert after is not None
            return Decision(
                response=StoredResponse(Outcome.COMPLETED, {}),
                events=events,
                guards=[self._update_user(after)],
            )

        self._runner.run(run, scope=scope)
        view = self._registry.get(user_id, consistent=True)
        if view.get("erased"):
            raise NotFound(f"user {user_id} not found")
        return view

    def _update_user(self, state: UserState) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._users.name,
                "Key": {"pk": user_pk(state.user_id)},
                "UpdateExpression": "SET loyalty = :loyalty, consents = :consents, version = :v",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {
                    ":loyalty": state.loyalty,
                    ":consents": {"marketing": state.marketing},
                    ":v": state.version,
                },
            }
        }
