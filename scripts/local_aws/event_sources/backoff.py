"""How long an idle poller pauses: at its base pace just after activity, slower when idle."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["IdleBackoff"]


class IdleBackoff:
    """The pause of one poller after a poll that found nothing.

    For ``busy_seconds`` after its last activity (records found, or a wake-up:
    see ``active``) it pauses ``base`` seconds: what a queue gets back after a
    visibility timeout, or sees once a delay ends, is taken as promptly as ever.
    After that, each empty poll doubles the pause, up to ``ceiling``: an idle
    stack calls the emulators seldom. Without a ``ceiling`` above ``base``
    the pause stays ``base``. ``clock`` is monotonic seconds. Not thread-safe:
    one per polling thread.
    """

    def __init__(
        self,
        base: float,
        ceiling: float | None = None,
        *,
        busy_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.ceiling = max(base, base if ceiling is None else ceiling)
        self.busy_seconds = busy_seconds
        self._clock = clock
        self._last_activity = clock()
        self._pause = base

    def active(self) -> None:
        """Records were found, or the poller was woken: back to the base pace."""
        self._last_activity = self._clock()
        self._pause = self.base

    def next_pause(self) -> float:
        """The pause after an empty poll (each call after the busy spell doubles it)."""
        if self._clock() - self._last_activity < self.busy_seconds:
            return self.base
        pause = self._pause
        self._pause = min(self.ceiling, pause * 2)
        return pause
