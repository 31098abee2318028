"""A wake-up between the local stack's processes: one UDP datagram on loopback.

The local API (``chalice local``, another process) writes the ledger; the
stack's event-source runner reads its stream. Rather than poll that stream
many times a second, the runner sleeps until the API says "a request that may
have written a table was served" (local_aws.chalice_local sends, the stack
listens) or its idle pause ends (other writers). A datagram lost or sent
before the listener reads is only a wake-up missed: the pause still ends.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

__all__ = ["WakeListener", "WakeSender"]

logger = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_DATAGRAM = b"wake"
_STOP = b"stop"


class WakeListener:
    """Listens on a loopback UDP port (``port``) and calls ``on_wake`` per burst of datagrams."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((_LOOPBACK, 0))
        self.port = int(self._socket.getsockname()[1])
        self._thread: threading.Thread | None = None

    def start(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` from a background thread whenever a sender signals."""
        if self._thread is not None:
            raise RuntimeError("WakeListener already started")
        self._thread = threading.Thread(
            target=self._run, args=(on_wake,), name="wake-listener", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread (it reads its own stop datagram) and close the socket."""
        if self._thread is not None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as own:
                own.sendto(_STOP, (_LOOPBACK, self.port))
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def _run(self, on_wake: Callable[[], None]) -> None:
        while True:
            if self._socket.recv(16) == _STOP:
                return
            # Datagrams already queued ask for the same wake-up: one call for all of them.
            self._socket.setblocking(False)
            try:
                while self._socket.recv(16) != _STOP:
                    pass
                return
            except BlockingIOError:
                pass
            finally:
                self._socket.setblocking(True)
            try:
                on_wake()
            except Exception as exc:
                logger.warning("wake-up failed: %r", exc)


class WakeSender:
    """Signals a ``WakeListener`` on ``port``; never raises (a lost wake-up only delays)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self) -> None:
        try:
            self._socket.sendto(_DATAGRAM, (_LOOPBACK, self.port))
        except OSError as exc:
            logger.debug("wake-up not sent: %r", exc)
