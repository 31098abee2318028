"""The end-to-end tier: the real local stack as a subprocess, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalStackProcess:
    api_url: str
    aws_url: str
    prefix: str
    region: str

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.aws_url)  # type: ignore[call-overload]

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll until ``predicate()`` is truthy; its value, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """GIVEN the local stack running on free loopback ports (stopped after the session)."""
    api_port, aws_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("local-stack") / "stack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = "eu-west-1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "local_stack.py"), "up",
             "--api-port", str(api_port), "--aws-port", str(aws_port),
             "--state-dir", str(log.parent)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )
        try:
            wait_for(lambda: b"API ready" in log.read_bytes() or process.poll() is not None, 90)
            if process.poll() is not None:
                pytest.fail(f"local stack exited:\n{log.read_text()}")
            yield LocalStackProcess(
                api_url=f"http://127.0.0.1:{api_port}",
                aws_url=f"http://127.0.0.1:{aws_port}",
                prefix="evp",
                region="eu-west-1",
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
