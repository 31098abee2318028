"""Whole lines on stdout and stderr when many handlers share one process.

In Lambda each function's process runs one invocation at a time. The local
stack runs every handler in threads of one process (and ``chalice local``
serves requests in threads), all writing to the same log. ``print`` writes
a line and its newline in two calls: an EMF metrics line (powertools
``Metrics`` prints it) could get another thread's log line between them, and
both lines were then unreadable JSON. ``LineAtomicStream`` collects each
thread's text until a newline and writes complete lines under one lock.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

__all__ = ["LineAtomicStream", "install"]


class LineAtomicStream:
    """A text stream that passes on whole lines only, one thread's at a time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._pending = threading.local()

    def write(self, text: str) -> int:
        pending: str = getattr(self._pending, "text", "") + text
        lines, newline, rest = pending.rpartition("\n")
        if newline:
            with self._lock:
                self._stream.write(lines + newline)
        self._pending.text = rest
        return len(text)

    def flush(self) -> None:
        """Pass on this thread's unfinished line too, as a flush asks for."""
        rest = getattr(self._pending, "text", "")
        self._pending.text = ""
        with self._lock:
            if rest:
                self._stream.write(rest)
            self._stream.flush()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        # encoding, fileno, isatty, ...: those of the wrapped stream.
        return getattr(self._stream, name)


def install() -> None:
    """Wrap sys.stdout and sys.stderr (once) so that threads write whole lines."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, LineAtomicStream):
            setattr(sys, name, LineAtomicStream(stream))
