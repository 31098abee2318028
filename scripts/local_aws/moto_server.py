"""moto server for the local stack: one request at a time, deploy-path patches applied.

    python -m local_aws.moto_server [-H 127.0.0.1] [-p 5000]

The patches are ``local_aws.moto_patches`` (moto gaps on the deploy path).

moto's backends are not thread-safe, and ``python -m moto.server`` handles
requests on concurrent threads: its Kinesis ``put_record`` reads the last
sequence number and stores under the next one without a lock (two producers
can get the same number, and one record replaces the other), and its SQS
``delete_message`` rebuilds the queue's message list outside the lock that
``send_message`` appends under (a message sent meanwhile can vanish). Local
traffic is small and each moto call takes milliseconds, so the local stack
serialises them instead of losing data:
``python -m local_aws.moto_server -H 127.0.0.1 -p 5000``.

Long polls (``WaitTimeSeconds`` > 0) would hold the lock while waiting; the
local event-source runner polls SQS with short polls.

Two costs of moto server's own plumbing are cut, measured with py-spy over the
e2e tier: it lists moto's package directory (``os.listdir`` and an ``isdir``
per entry) on every request to find the service, and werkzeug logs every
request line through colorama. They were about a tenth and an eighth of the
server's samples; the actions themselves were a twentieth. The listing is
read once; request lines are not logged (errors still are).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto import backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

from local_aws.moto_patches import apply_all

__all__ = ["SerializedApp", "main", "read_moto_modules_once"]

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedApp:
    """A WSGI app that runs ``app`` for one request at a time, body included."""

    def __init__(self, app: Wsgi) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


def read_moto_modules_once() -> tuple[str, ...]:
    """Make moto's list of its service modules a constant (it lists its directory per request)."""
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    return modules


def main(argv: list[str] | None = None) -> None:
    """Patch moto's models in this process, then serve them one request at a time."""
    apply_all()
    read_moto_modules_once()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description="moto server, one request at a time")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    # As moto.server does: moto builds some URLs from it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        SerializedApp(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
