"""``chalice local`` as the local stack serves it.

- A listen backlog fit for concurrent clients: Chalice's dev server keeps
  socketserver's default backlog of 5 connections, so a burst of parallel
  requests (the concurrency tests send 24 at once) gets connection resets.
- API Gateway's gateway responses (chalicelib.entrypoints.gateway_responses), which
  ``chalice local`` does not emulate: a path no route matches gets the
  MISSING_AUTHENTICATION_TOKEN response (404 in the documented error shape)
  instead of Chalice's 403 ``{"message": "Missing Authentication Token"}``
  (or, with an Authorization header, its 403 about a SigV4 signature).
- Every HTTP method reaches the gateway: Chalice's dev server handles only
  the usual seven and answers any other (TRACE, QUERY, ...) 501 with an HTML
  page; here they reach the app, which answers 405 in the error shape.
- With ``--wake-port PORT`` (before the command), every request but GET, HEAD
  and OPTIONS, once handled, wakes the stack's table-stream pollers
  (local_aws.wake_signal): it may have written the ledger, whose stream the
  stack would otherwise find only at its next idle poll.

Runs the same ``chalice local`` command:
``python -m local_aws.chalice_local [--wake-port PORT] local --port 8000 ...``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from chalice import local
from chalice.cli import main

from chalicelib.entrypoints.gateway_responses import GATEWAY_RESPONSES
from local_aws import line_output
from local_aws.wake_signal import WakeSender

__all__ = ["GatewayResponseError", "apply_gateway_responses", "run", "wake_after_writes"]

LISTEN_BACKLOG = 256
WAKE_PORT_OPTION = "--wake-port"
# Requests that write nothing: no wake-up after them.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NO_ROUTE_MARKERS = (b"Missing Authentication Token", b"Authorization header requires")


class GatewayResponseError(local.LocalGatewayException):
    """A gateway response, as ChaliceRequestHandler sends LocalGatewayException."""

    def __init__(self, response_type: str, headers: dict[str, str]) -> None:
        declared = GATEWAY_RESPONSES[response_type]
        body = declared.template().encode()
        super().__init__({**headers, "Content-Type": "application/json"}, body)
        self.CODE = declared.status_code or 403


def apply_gateway_responses() -> None:
    """Make LocalGateway answer unmatched paths with the declared gateway response."""
    original = local.LocalGateway.handle_request
    if getattr(original, "gateway_responses", False):
        return

    def handle_request(self: local.LocalGateway, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except local.ForbiddenError as exc:
            # The two answers of LocalGateway when no route matches the path.
            if not any(marker in (exc.body or b"") for marker in _NO_ROUTE_MARKERS):
                raise
            raise GatewayResponseError("MISSING_AUTHENTICATION_TOKEN", exc.headers) from None

    handle_request.gateway_responses = True  # type: ignore[attr-defined]
    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]


def wake_after_writes(wake: Callable[[], None]) -> None:
    """Make LocalGateway call ``wake`` after each request that may have written."""
    original = local.LocalGateway.handle_request

    def handle_request(self: local.LocalGateway, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, method, *args, **kwargs)
        finally:
            # Its writes are committed (or it failed): a stream poller finds them now.
            if method.upper() not in _READ_METHODS:
                wake()

    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]


def _wake_port(argv: list[str]) -> tuple[int | None, list[str]]:
    """``--wake-port PORT`` taken off the front of ``argv``: the port, and the rest."""
    if len(argv) >= 2 and argv[0] == WAKE_PORT_OPTION:
        return int(argv[1]), argv[2:]
    return None, argv


def _any_method(self: local.ChaliceRequestHandler, name: str) -> Any:
    # http.server dispatches a request to do_<METHOD>; every method goes to the gateway.
    if name.startswith("do_"):
        return self._generic_handle
    raise AttributeError(name)


def run() -> int:
    # Requests are served in threads, each logging to this process's stdout.
    line_output.install()
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    local.ThreadedHTTPServer.daemon_threads = True
    local.ChaliceRequestHandler.__getattr__ = _any_method  # type: ignore[attr-defined]
    apply_gateway_responses()
    wake_port, sys.argv[1:] = _wake_port(sys.argv[1:])
    if wake_port is not None:
        wake_after_writes(WakeSender(wake_port).send)
    return int(main() or 0)


if __name__ == "__main__":
    sys.exit(run())
