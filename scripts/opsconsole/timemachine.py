"""An account's history, folded once, so every slider step is a lookup or a short fold.

The balance after each version comes from one incremental pass of the
reference fold (projections.accounts.evolve). The state shown for a version
is folded by the point-in-time read's own code (the replay engine over the
accounts projection, as ``GET /accounts/{id}?at=`` does) over the ledger's
first ``version`` events, which are kept in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from projections.accounts import ACCOUNTS, Account, evolve
from projections.catalogue import decode_event
from projections.cents import format_cents
from projections.replay import replay

__all__ = ["AccountHistory", "HistoryCache", "TimelineRow"]


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One event of the account as the timeline shows it, with the balance after it."""

    version: int
    time: str
    type: str
    amount: str | None
    balance: str
    event_id: str

    @property
    def kind(self) -> str:
        """The event type's last word (opened, deposited, withdrawn)."""
        return self.type.rsplit(".", 1)[-1]

    def epoch(self) -> float:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00")).timestamp()


class AccountHistory:
    """An account's ledger events, their timeline and the balance after each."""

    def __init__(self, account_id: str, raw_events: list[str]) -> None:
        self.account_id = account_id
        self._raw = raw_events
        rows: list[TimelineRow] = []
        state: Account | None = None
        for raw in raw_events:
            event = decode_event(raw)
            state = evolve(state, event)
            body = orjson.loads(raw)
            amount = (body.get("data") or {}).get("amount")
            rows.append(
                TimelineRow(
                    version=event.aggregateversion,
                    time=event.time,
                    type=event.type,
                    amount=None if amount is None else str(amount),
                    balance=format_cents(state.balance_cents) if state else "0.00",
                    event_id=str(body["id"]),
                )
            )
        self.rows = rows
        self.folded = state

    @property
    def last_version(self) -> int:
        return self.rows[-1].version if self.rows else 0

    def state_at_version(self, version: int) -> Account | None:
        """The account after its first ``version`` events (the point-in-time fold)."""
        version = max(0, min(version, len(self._raw)))
        return replay(self._raw[:version], ACCOUNTS).states.get(self.account_id)

    def series(self) -> dict[str, list[Any]]:
        """The balance chart's data: epoch seconds, balances and versions."""
        return {
            "x": [row.epoch() for row in self.rows],
            "y": [float(row.balance) for row in self.rows],
            "version": [row.version for row in self.rows],
        }


class HistoryCache:
    """The last few accounts' histories, refreshed when their page is (re)loaded."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._entries: OrderedDict[str, AccountHistory] = OrderedDict()

    def put(self, history: AccountHistory) -> AccountHistory:
        self._entries[history.account_id] = history
        self._entries.move_to_end(history.account_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return history

    def get(self, account_id: str) -> AccountHistory | None:
        history = self._entries.get(account_id)
        if history is not None:
            self._entries.move_to_end(account_id)
        return history
