"""The operator console in the browser: time machine, person, trace, failures, flow.

``python scripts/console.py [--aws-port P] [--port 8300] [--no-browser]``

Like ``ops.py``: with ``--aws-port`` it works on the local stack serving AWS
on that port; without it, on AWS with the stage's settings from the
environment (NAME_PREFIX, AWS_REGION, ... as the Lambdas have them) and the
operator's own AWS credentials. ``--demo`` (``make console``) starts a local
stack, fills it with demo data, and stops it when the console stops (Ctrl-C).
The console listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import webbrowser
from pathlib import Path

import uvicorn

from local_aws.port_arguments import tcp_port
from local_aws.stack_process import running_local_stack
from local_aws.stack_state import StackNotRunning
from operations.environment import add_target_arguments, use_local_stack
from opsconsole.data import ConsoleData
from opsconsole.demo_data import seed
from opsconsole.web import create_app

HOST = "127.0.0.1"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument("--port", type=tcp_port, default=8300, help="the console's port (8300)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--demo", action="store_true", help="start a local stack with demo data and use it"
    )
    return parser


class PortInUse(Exception):
    """The console's port is taken (by another console, the API, ...)."""


def bind(port_number: int) -> socket.socket:
    """A socket bound to 127.0.0.1:``port_number`` for the console; PortInUse if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port_number))
    except OSError as exc:
        sock.close()
        raise PortInUse(
            f"port {port_number} on {HOST} is in use ({exc.strerror}): pass another --port"
        ) from None
    return sock


def serve(data: ConsoleData, sock: socket.socket, open_browser: bool) -> None:
    """Serve the console on ``sock`` (from ``bind``) until Ctrl-C; no access log (URLs hold ids)."""
    host, port_number = sock.getsockname()[:2]
    url = f"http://{host}:{port_number}/"
    print(f"Console ready at {url}", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(create_app(data), access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _demo(args: argparse.Namespace, sock: socket.socket) -> int:
    with tempfile.TemporaryDirectory(prefix="console-demo-") as workdir:
        log = Path(workdir) / "stack.log"
        print(f"starting a local stack (log: {log}) ...", flush=True)
        with running_local_stack(log) as stack:
            use_local_stack(stack.aws_port, stack.state_dir)
            created = seed(stack)
            print(
                f"demo data: {len(created['users'])} people, accounts "
                + ", ".join(created["accounts"]),
                flush=True,
            )
            serve(ConsoleData(local=True), sock, not args.no_browser)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The port first: a taken one is one line, before a demo stack starts or "ready" prints.
    try:
        sock = bind(args.port)
    except PortInUse as exc:
        print(exc, file=sys.stderr)
        return 2
    with sock:
        if args.demo:
            return _demo(args, sock)
        if args.aws_port is not None:
            try:
                use_local_stack(args.aws_port, args.state_dir)
            except StackNotRunning as exc:
                print(exc, file=sys.stderr)
                return 2
        elif "NAME_PREFIX" not in os.environ:
            # Against AWS the stage's settings must be explicit, never defaults.
            print(
                "set the stage's settings (NAME_PREFIX, AWS_REGION, ... as in "
                "chalice_app/.chalice/config.json) or pass --aws-port of a local stack",
                file=sys.stderr,
            )
            return 2
        serve(ConsoleData(local=args.aws_port is not None), sock, not args.no_browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
