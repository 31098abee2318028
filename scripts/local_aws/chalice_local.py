"""``chalice local`` with a listen backlog fit for concurrent clients.

Chalice's dev server keeps socketserver's default backlog of 5 connections,
so a burst of parallel requests (the concurrency tests send 24 at once) gets
connection resets. This runs the same ``chalice local`` command with a larger
backlog: ``python -m local_aws.chalice_local local --port 8000 ...``.
"""

from __future__ import annotations

import sys

from chalice import local
from chalice.cli import main

LISTEN_BACKLOG = 256


def run() -> int:
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    local.ThreadedHTTPServer.daemon_threads = True
    return int(main() or 0)


if __name__ == "__main__":
    sys.exit(run())
