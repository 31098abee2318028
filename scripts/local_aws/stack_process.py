"""Run ``scripts/local_stack.py up`` as a child process (for the demo and e2e tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3

from local_aws.dynamodb_local import endpoint_environment

__all__ = ["LocalStackProcess", "free_port", "running_local_stack", "wait_for"]

ROOT = Path(__file__).resolve().parents[2]
_DYNAMODB_LOCAL_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
T = TypeVar("T")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    """Poll until ``predicate()`` is truthy; its value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass(frozen=True)
class LocalStackProcess:
    """Where a running local stack answers."""

    api_url: str
    aws_url: str
    dynamodb_url: str
    prefix: str
    region: str
    log_path: Path
    state_dir: Path
    pid: int

    def endpoint(self, service: str) -> str:
        """The emulator serving ``service``: DynamoDB Local or moto server."""
        return self.dynamodb_url if service in _DYNAMODB_LOCAL_SERVICES else self.aws_url

    def client(self, service: str) -> Any:
        """A boto3 client for the emulator that serves ``service`` in this stack."""
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
        )
        return session.client(service, endpoint_url=self.endpoint(service))  # type: ignore[call-overload]

    def environment(self) -> dict[str, str]:
        """The AWS variables that point boto3 at this stack."""
        return {
            "AWS_ENDPOINT_URL": self.aws_url,
            **endpoint_environment(self.dynamodb_url),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
        }

    @property
    def aws_port(self) -> int:
        return int(self.aws_url.rsplit(":", 1)[1])

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def token(self, username: str, group: str | None = None) -> str:
        """An access token of ``username`` from this stack (``local_stack.py token``)."""
        argv = ["--aws-port", str(self.aws_port), "--state-dir", str(self.state_dir)]
        done = self.run_script(
            "local_stack.py", "token", *argv, username, *(["--group", group] if group else [])
        )
        return done.stdout.strip().splitlines()[-1]

    def run_script(
        self, script: str, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``scripts/<script> args`` against this stack; its output captured.

        With ``check``, a failure raises CalledProcessError noted with the end of
        the script's stderr (its own message omits it), so a failed test says why.
        """
        env = {**os.environ, **self.environment(), "NAME_PREFIX": self.prefix}
        try:
            return subprocess.run(
                [sys.executable, str(ROOT / "scripts" / script), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=check,
            )
        except subprocess.CalledProcessError as exc:
            exc.add_note(f"{script} stderr (end):\n{exc.stderr[-4000:]}")
            raise


@contextmanager
def running_local_stack(
    log_path: Path,
    *,
    prefix: str = "evp",
    region: str = "eu-west-1",
    startup_timeout: float = 90,
    verbose: bool = True,
) -> Iterator[LocalStackProcess]:
    """Start the local stack on free ports; SIGTERM it on exit.

    ``log_path`` gets its output; with ``verbose`` (``up -v``) the handlers' log
    lines too, else those go to the stack's own log file in the same folder.
    """
    api_port, aws_port, dynamodb_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = region
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / "local_stack.py"),
                "up",
                "--api-port",
                str(api_port),
                "--aws-port",
                str(aws_port),
                "--dynamodb-port",
                str(dynamodb_port),
                "--prefix",
                prefix,
                "--region",
                region,
                "--state-dir",
                str(log_path.parent),
                *(["-v"] if verbose else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            # Its own process group, so a stack that ignores SIGTERM is killed with its children.
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: b"API ready" in log_path.read_bytes() or process.poll() is not None,
                startup_timeout,
            )
            if process.poll() is not None:
                raise RuntimeError(f"local stack exited:\n{log_path.read_text()}")
            yield LocalStackProcess(
                api_url=f"http://127.0.0.1:{api_port}",
                aws_url=f"http://127.0.0.1:{aws_port}",
                dynamodb_url=f"http://127.0.0.1:{dynamodb_port}",
                prefix=prefix,
                region=region,
                log_path=log_path,
                state_dir=log_path.parent,
                pid=process.pid,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
