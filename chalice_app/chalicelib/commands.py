"""Running a command: load, decide, append atomically; retry on a version conflict.

A command is a ``decide`` function that reads current state (from the ledger)
and returns a Decision: the events to append, extra guarded writes (email
lock, idempotency record), and the response. The append is one DynamoDB
transaction; if another writer took the next version first, ``decide`` runs
again on fresh state (bounded, with jittered backoff).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.dynamo import cancellation_codes
from chalicelib.events import CloudEvent
from chalicelib.exceptions import Conflict, DomainError
from chalicelib.idempotency import IdempotencyKey, IdempotencyStore, StoredResponse
from chalicelib.ledger import ledger_put
from chalicelib.observability import count_appended

__all__ = ["CommandRunner", "Decision"]

MAX_ATTEMPTS = 40


@dataclass(frozen=True)
class Decision:
    """What a command decided: events, guarded side writes and the response.

    ``guard_errors`` maps an index of ``guards`` to the error raised when that
    guard's condition fails (for example the email lock -> email_taken).
    """

    response: StoredResponse
    events: Sequence[CloudEvent] = ()
    guards: Sequence[dict[str, Any]] = ()
    guard_errors: Mapping[int, DomainError] = field(default_factory=dict)


class CommandRunner:
    """Executes decisions against the ledger; takes the ledger table and idempotency store."""

    def __init__(self, ledger_table: Any, idempotency: IdempotencyStore) -> None:
        self._ledger = ledger_table
        self._client = ledger_table.meta.client
        self._idempotency = idempotency

    def run(
        self,
        decide: Callable[[], Decision],
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None = None,
    ) -> StoredResponse:
        """Decide and commit; returns the response (the stored one for a repeated key).

        IdempotencyKeyReused if the key was first used with another body, also
        when both requests race.
        """
        if idempotency_key:
            stored = self._idempotency.get(scope, idempotency_key)
            if stored is not None:
                return stored
        for attempt in range(MAX_ATTEMPTS):
            decision = decide()
            if not decision.events and not decision.guards and not idempotency_key:
                return decision.response
            guards = list(decision.guards)
            if idempotency_key:
                guards.append(self._idempotency.put(scope, idempotency_key, decision.response))
            items = [ledger_put(self._ledger.name, e) for e in decision.events] + guards
            try:
                self._client.transact_write_items(TransactItems=items)
                count_appended(e.type for e in decision.events)
                return decision.response
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = cancellation_codes(dict(exc.response))
            failed = [i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
            n_events = len(decision.events)
            if idempotency_key and len(items) - 1 in failed:
                stored = self._idempotency.get(scope, idempotency_key)
                if stored is not None:
                    return stored
            for index in failed:
                error = decision.guard_errors.get(index - n_events) if index >= n_events else None
                if error is not None:
                    raise error
            # Another writer took a version (or the transaction conflicted): decide again.
            time.sleep(random.uniform(0, min(0.005 * 2 ** min(attempt, 6), 0.3)))
        raise Conflict("too many concurrent writers on this resource; retry", code="conflict")
