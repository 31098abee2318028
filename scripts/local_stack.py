"""The local stack: the whole platform on one laptop.

``python scripts/local_stack.py up [--api-port 8000] [--aws-port 5000] [--dynamodb-port 8001] [-v]``
starts DynamoDB Local (DynamoDB and DynamoDB Streams) and moto server (every
other AWS service, one request at a time: local_aws.moto_server) on
127.0.0.1, provisions the resources declared in chalicelib/resources.py,
publishes the stack's environment for the local tools (local_aws.stack_state),
runs the Lambda event sources (DynamoDB stream, Kinesis, SQS) and the Firehose
delivery to the S3 archive in this process, and serves the API with
``chalice local``. It prints ``API ready at http://127.0.0.1:<port>`` when
``GET /health`` answers, and stops every child process on Ctrl-C or SIGTERM
(and they die with it if it is killed). The handlers' JSON log lines (and
the children's output) go to ``<state-dir>/stack-<aws-port>.log``, whose path
it prints; ``-v`` shows them on the terminal instead.

``python scripts/local_stack.py token [--aws-port 5000] USERNAME [--group admin|marketing]``
creates USERNAME (an email, or a plain name standing for
``<name>@example.com``) in the running stack's user pool if missing, adds
the group, and prints the person's access token as the last line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import boto3

from chalicelib import resources
from local_aws import dynamodb_local, line_output, stack_state
from local_aws.identities import IdentityError, UserPoolIdentities, login_email
from local_aws.parent_death import die_with_parent
from local_aws.port_arguments import tcp_port, tcp_port_or_any
from local_aws.provision import provision_services, provision_tables, table_names
from local_aws.tool_errors import one_line_errors
from local_aws.wake_signal import WakeListener

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "chalice_app"
# moto one request at a time (its backends are not thread-safe). Run, not imported:
# loading moto here would delay starting the emulators by a third of a second.
MOTO_SERVER = "local_aws.moto_server"

logger = logging.getLogger("local_stack")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process serving port {port} exited")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


# Pollers' pace (seconds): just after activity, and at most when idle.
_IDLE_POLL_SECONDS = 0.5
_MAX_IDLE_POLL_SECONDS = 2.0

# Imported by _start_event_sources; none reads the settings at import time.
_EVENT_SOURCE_MODULES = (
    "chalice",
    "chalicelib.entrypoints.roots.fanout",
    "chalicelib.entrypoints.roots.projector",
    "chalicelib.entrypoints.roots.relay",
    "chalicelib.entrypoints.roots.search",
    "chalicelib.entrypoints.roots.subscribers",
    "local_aws.event_sources",
    "local_aws.firehose",
    "local_aws.search_sink",
)


def _search_redaction_delay(args: argparse.Namespace) -> int:
    """The local redaction queue's delay: the local search delivery window, plus a second.

    Locally the transform is a call and there are no delivery retries, so the
    window is the destination buffer (``--firehose-buffer-seconds``).
    """
    return resources.SEARCH_LATE_REDACTION.delay_seconds(
        args.firehose_buffer_seconds, margin_seconds=1
    )


def _preload(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


def _provision_tables_when_up(
    dynamodb: Any, prefix: str, port: int, alive: Callable[[], bool]
) -> dict[str, str]:
    """Wait for DynamoDB Local on ``port``, then create the tables; their variables."""
    _wait_listening(port, 60, alive)
    return provision_tables(dynamodb, prefix)


def _stack_environment(base_env: dict[str, str], app_env: dict[str, str]) -> dict[str, str]:
    """What the stack's processes run with that a local tool needs: AWS settings and the app's."""
    aws = {name: value for name, value in base_env.items() if name.startswith("AWS_")}
    return {**aws, **app_env}


def _wait_http(url: str, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process serving {url} exited")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


class LocalStack:
    """Starts and stops the local stack's processes and threads."""

    def __init__(
        self, args: argparse.Namespace, console: TextIO, log: TextIO | None = None
    ) -> None:
        self.args = args
        # The stack's own lines (endpoints, ready) go to the console; everything the
        # handlers and children write goes to ``log`` (None: the terminal, with -v).
        self.console = console
        self.log = log
        self.children: list[subprocess.Popen[bytes]] = []
        self.runner: Any = None
        self.firehose: Any = None
        self.search_delivery: Any = None
        # The API's wake-ups (it writes the ledger, whose stream the runner reads).
        self.api_writes: WakeListener | None = None
        # Set by the signal handler, so a plain flag: an Event's lock deadlocks when the
        # handler interrupts the main thread inside Event.wait() (it holds that lock).
        self.stop_requested = False
        self._down = False
        self._published: Path | None = None

    def _spawn(self, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        # Killed with the stack, even by SIGKILL (no orphan keeps a port). Python children
        # write each (whole) line at once: they share the log with this process's threads.
        child = subprocess.Popen(
            argv,
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=die_with_parent(),
        )
        self.children.append(child)
        return child

    def _children_alive(self) -> bool:
        return all(child.poll() is None for child in self.children)

    def up(self) -> None:
        args = self.args
        endpoint = f"http://127.0.0.1:{args.aws_port}"
        dynamodb_endpoint = f"http://127.0.0.1:{args.dynamodb_port}"
        base_env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            **dynamodb_local.endpoint_environment(dynamodb_endpoint),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": args.region,
        }
        base_env.pop("AWS_PROFILE", None)
        # Both emulators boot at once; DynamoDB Local (a JVM) is the slower one.
        dynamodb = self._spawn(dynamodb_local.command(args.dynamodb_port), base_env, ROOT)
        moto_argv = ["-m", MOTO_SERVER, "-H", "127.0.0.1", "-p", str(args.aws_port)]
        moto = self._spawn([sys.executable, *moto_argv], base_env, ROOT)
        with ThreadPoolExecutor(max_workers=2) as pool:
            # The event sources' modules load while the emulators start.
            preloaded = pool.submit(_preload, _EVENT_SOURCE_MODULES)
            _wait_http(f"{endpoint}/moto-api/", 30, lambda: moto.poll() is None)
            # Everything below (provisioning, handlers, chalice local) talks to the emulators.
            os.environ.update(base_env)
            session = boto3.session.Session(region_name=args.region)
            tables = pool.submit(
                _provision_tables_when_up,
                session.client("dynamodb"),
                args.prefix,
                args.dynamodb_port,
                lambda: dynamodb.poll() is None,
            )
            app_env = provision_services(
                args.prefix,
                session=session,
                visibility_timeout_seconds=args.visibility_timeout,
                search_redaction_delay_seconds=_search_redaction_delay(args),
            )
            app_env.update(table_names(args.prefix))
            app_env.update(self._search_env())
            # The failure drills' switch (see chalicelib/adapters/faults.py); absent means no fault.
            app_env["FAULT_INJECTION_FILE"] = str(Path(args.state_dir) / "faults.json")
            # chalice local boots while the tables are created: the API needs their names
            # only (the ledger's stream is the event sources' business, in this process).
            api = self._spawn_api(base_env, app_env)
            app_env.update(tables.result())
            preloaded.result()
        os.environ.update(app_env)
        published = {
            **_stack_environment(base_env, app_env),
            stack_state.API_URL_VAR: f"http://127.0.0.1:{args.api_port}",
        }
        self._published = stack_state.publish(args.aws_port, published, Path(args.state_dir))

        self._start_event_sources(app_env)
        _wait_http(f"http://127.0.0.1:{args.api_port}/health", 60, lambda: api.poll() is None)
        lines = [
            f"AWS endpoint {endpoint} (moto server)",
            f"DynamoDB endpoint {dynamodb_endpoint} (DynamoDB Local)",
        ]
        if self.log is not None:
            lines.append(f"handler logs in {self.log.name} (-v shows them here)")
        lines.append(f"API ready at http://127.0.0.1:{args.api_port}")
        print("\n".join(lines), file=self.console, flush=True)

    def _spawn_api(
        self, base_env: dict[str, str], app_env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        """``chalice local`` on the API port, with the app's settings; it wakes the runner."""
        self.api_writes = WakeListener()
        return self._spawn(
            [
                sys.executable,
                "-m",
                "local_aws.chalice_local",
                "--wake-port",
                str(self.api_writes.port),
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.args.api_port),
                "--stage",
                "local",
                "--no-autoreload",
            ],
            {
                **base_env,
                **app_env,
                "PYTHONPATH": os.pathsep.join(
                    [str(ROOT / "scripts"), base_env.get("PYTHONPATH", "")]
                ).rstrip(os.pathsep),
            },
            APP_DIR,
        )

    def _search_env(self) -> dict[str, str]:
        """A fresh SQLite search index in the state dir (moto's data is fresh too)."""
        state_dir = Path(self.args.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / "search.sqlite3"
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        return {"SEARCH_BACKEND": "sqlite", "SEARCH_SQLITE_PATH": str(path)}

    def _start_event_sources(self, app_env: dict[str, str]) -> None:
        from chalicelib.adapters import aws
        from chalicelib.resources import ARCHIVE_DELIVERY, resource_name
        from local_aws.event_sources import EventSourceRunner
        from local_aws.firehose import FirehoseEmulator

        aws.reset()
        sys.path.insert(0, str(APP_DIR))
        app_module = importlib.import_module("app")
        session = boto3.session.Session(region_name=self.args.region)
        failure_url = session.client("sqs").get_queue_url(
            QueueName=app_env["STREAM_FAILURE_QUEUE"]
        )["QueueUrl"]
        state_dir = Path(self.args.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.runner = EventSourceRunner(
            app_module.app,
            session,
            failure_queue_url=failure_url,
            checkpoint_path=state_dir / "event_sources.json",
            # Queues and the event stream are written by handlers of this runner, whose
            # runs wake their pollers, and the ledger by the API (chalice local, another
            # process), whose writes wake its stream's. So pollers poll every half second
            # only while busy (a visibility timeout or a delay may end: see
            # _busy_seconds), and back off when idle, for the one-request-at-a-time moto
            # server's sake (and the CPU's). A writer that wakes nothing (a test, a tool)
            # waits for the next idle poll.
            idle_poll_seconds=_IDLE_POLL_SECONDS,
            max_idle_poll_seconds=_MAX_IDLE_POLL_SECONDS,
            busy_seconds=self._busy_seconds(),
        )
        self.runner.start()
        if self.api_writes is not None:
            self.api_writes.start(self.runner.wake_table_streams)
        self.firehose = FirehoseEmulator(
            session=session,
            stream_name=app_env["EVENT_STREAM"],
            bucket=app_env["ARCHIVE_BUCKET"],
            delivery_name=resource_name(self.args.prefix, ARCHIVE_DELIVERY.delivery_suffix),
            buffering_interval_seconds=self.args.firehose_buffer_seconds,
            poll_interval_seconds=_IDLE_POLL_SECONDS,
            max_poll_interval_seconds=_MAX_IDLE_POLL_SECONDS,
            busy_seconds=self._busy_seconds(),
        )
        self.search_delivery = self._search_sink(app_env)
        self.firehose.add_sink(self.search_delivery)
        # The relay's runs write the event stream the delivery reads.
        self.runner.add_wake_listener(self.firehose.wake)
        self.search_delivery.start()
        self.firehose.start()

    def _busy_seconds(self) -> float:
        """How long pollers keep their base pace after activity: past the longest wait a
        message can have without anyone waking its poller (the visibility timeout, the
        late redaction's delay), so retries and delayed messages are taken as promptly."""
        return max(self.args.visibility_timeout, _search_redaction_delay(self.args)) + 1.0

    def _search_sink(self, app_env: dict[str, str]) -> Any:
        """Firehose's OpenSearch destination, locally: index into the SQLite search index."""
        from chalicelib.adapters.search import ensure_alias
        from chalicelib.adapters.search.sqlite import SqliteSearchIndex
        from chalicelib.entrypoints.roots import search
        from local_aws.search_sink import SearchIndexSink

        index = SqliteSearchIndex(
            app_env["SEARCH_SQLITE_PATH"], app_env.get("OPENSEARCH_INDEX", "events")
        )
        ensure_alias(index)
        # Plays the Firehose transformation Lambda (search_transform): decrypts personal
        # fields when the stream's buffer flushes, then buffers for the destination, as AWS.
        return SearchIndexSink(
            index,
            transform=search.open_event_personal_fields,
            buffering_interval_seconds=self.args.firehose_buffer_seconds,
        )

    def down(self) -> None:
        """Stop threads, then children (SIGTERM, then SIGKILL after a grace period)."""
        if self._down:
            return
        self._down = True
        if self._published is not None:
            stack_state.withdraw(self.args.aws_port, Path(self.args.state_dir))
        # The stream's Firehose first: its last flush may hand the search delivery documents.
        for component in (self.api_writes, self.runner, self.firehose, self.search_delivery):
            if component is not None:
                try:
                    component.stop()
                except Exception:
                    logger.exception("stopping %s failed", type(component).__name__)
        for child in reversed(self.children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(self.children):
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def wait(self) -> int:
        """Block until a signal arrives or a child dies; the exit code."""
        while not self.stop_requested:
            if not self._children_alive():
                logger.error("a child process exited unexpectedly; stopping")
                return 1
            time.sleep(0.2)
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack in the foreground")
    up.add_argument("--api-port", type=tcp_port, default=8000)
    up.add_argument("--aws-port", type=tcp_port, default=5000)
    up.add_argument(
        "--dynamodb-port",
        type=tcp_port_or_any,
        default=8001,
        help="DynamoDB Local's port (0: any free port)",
    )
    up.add_argument("--prefix", default="evp", help="resource name prefix")
    up.add_argument(
        "--region",
        default=os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
        help="AWS region (default: $AWS_DEFAULT_REGION or eu-west-1)",
    )
    up.add_argument(
        "--visibility-timeout",
        type=int,
        default=2,
        help="SQS visibility timeout locally, seconds (short, so retries are quick)",
    )
    up.add_argument("--firehose-buffer-seconds", type=float, default=2.0)
    up.add_argument("--state-dir", default=str(ROOT / ".local-stack"))
    up.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the handlers' log lines and the children's output here "
        "(default: in <state-dir>/stack-<aws-port>.log)",
    )
    token = sub.add_parser(
        "token", help="print a person's access token from the running stack's user pool"
    )
    token.add_argument("username", metavar="USERNAME", help="an email, or a plain name")
    token.add_argument("--aws-port", type=tcp_port, default=5000, help="the stack's AWS port")
    token.add_argument("--group", choices=sorted(resources.USER_POOL.groups))
    token.add_argument(
        "--state-dir",
        type=Path,
        default=stack_state.DEFAULT_STATE_DIR,
        help="where the stack publishes its environment (`up --state-dir`)",
    )
    return parser


def token_command(args: argparse.Namespace) -> int:
    """Create the person if missing, add the group, print the access token last."""
    try:
        with one_line_errors(args.aws_port):
            identities = UserPoolIdentities.for_local_stack(args.aws_port, args.state_dir)
            email = login_email(args.username)
            created = identities.ensure_user(email)
            if args.group:
                identities.add_to_group(email, args.group)
            access_token = identities.access_token(email)
    except stack_state.StackNotRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except IdentityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "created" if created else "existing"
    group = f", added to {args.group}" if args.group else ""
    print(f"{email} ({state}{group}) in user pool {identities.pool_id}", flush=True)
    print(access_token, flush=True)
    return 0


def _can_start(args: argparse.Namespace) -> str | None:
    """Why ``up`` cannot start (java missing, a port taken), or None; picks a free port for 0."""
    missing = dynamodb_local.missing_requirement()
    if missing:
        return missing
    if args.dynamodb_port == 0:
        args.dynamodb_port = _free_port()
    for port in (args.api_port, args.aws_port, args.dynamodb_port):
        if not _port_free(port):
            return f"port {port} on 127.0.0.1 is already in use"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "token":
        return token_command(args)
    # Checked before the log file is opened: a stack already on the port keeps its log.
    cannot = _can_start(args)
    if cannot:
        print(f"local stack failed: {cannot}", file=sys.stderr, flush=True)
        return 1
    console, console_err = sys.stdout, sys.stderr
    log = None if args.verbose else _open_log(Path(args.state_dir), args.aws_port)
    if log is not None:
        # Every handler runs in a thread of this process and logs to its stdout:
        # the log file, not the terminal. One writer of whole lines for both streams.
        sys.stdout = sys.stderr = line_output.LineAtomicStream(log)
    line_output.install()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # The stack's own warnings (a child died) reach the terminal in any case.
    logger.addHandler(logging.StreamHandler(console_err))
    logger.propagate = False
    stack = LocalStack(args, console, log)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stack.stop_requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 1
    try:
        stack.up()
        code = stack.wait()
    except (RuntimeError, SystemExit) as exc:
        print(f"local stack failed: {exc}", file=console_err, flush=True)
    except Exception as exc:
        where = f" (traceback in {log.name})" if log is not None else ""
        print(f"local stack failed: {exc!r}{where}", file=console_err, flush=True)
        if log is not None:
            traceback.print_exc(file=log)
        else:
            raise
    finally:
        stack.down()
        if log is not None:
            sys.stdout, sys.stderr = console, console_err
            log.close()
    return code


def _open_log(state_dir: Path, aws_port: int) -> TextIO:
    """``<state_dir>/stack-<aws_port>.log``, emptied, appended to by this process and children."""
    path = state_dir / f"stack-{aws_port}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    # Line-buffered, and O_APPEND: the children's writes on the same file land at its end.
    return path.open("a", buffering=1)


if __name__ == "__main__":
    sys.exit(main())
