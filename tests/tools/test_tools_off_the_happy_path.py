"""The local tools off the happy path: one line on stderr, never a traceback.

Each case runs the tool as a user would (a subprocess) and checks its exit
code and that stderr holds at most two lines, none of them a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
)

from local_aws import stack_state
from local_aws.stack_process import free_port
from local_aws.tool_errors import explain

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A clean environment: earlier tests in this process leave the platform's
    # settings (a user pool, table names) in os.environ, which would change the path.
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, "AWS_EC2_METADATA_DISABLED": "true", **(env or {})},
        cwd=ROOT,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert 1 <= len(lines) <= 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.fixture
def listening() -> Iterator[int]:
    """GIVEN something that accepts connections on a loopback port (a live stack's port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def _publish(state_dir: Path, aws_port: int, endpoint_port: int, dynamodb_port: int) -> Path:
    return stack_state.publish(
        aws_port,
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{endpoint_port}",
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{dynamodb_port}",
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": f"http://127.0.0.1:{dynamodb_port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "NAME_PREFIX": "evp",
            "COGNITO_USER_POOL_ID": "eu-west-1_local",
            "COGNITO_APP_CLIENT_ID": "client",
            stack_state.API_URL_VAR: f"http://127.0.0.1:{free_port()}",
        },
        state_dir,
    )


STALE_CASES = {
    "ops": ("ops.py", "dlq"),
    "token": ("local_stack.py", "token", "alice"),
    "replay": ("replay.py", "--projection", "accounts"),
    "seed": ("seed_users.py", "--count", "1"),
}


@pytest.mark.parametrize("tool", sorted(STALE_CASES))
def test_a_dead_stacks_state_file_is_one_line_and_is_removed(tool: str, tmp_path: Path) -> None:
    # GIVEN the state file of a stack that was killed: its ports answer nothing
    port = free_port()
    path = _publish(tmp_path, port, port, free_port())
    script, *argv = STALE_CASES[tool]
    # WHEN the tool is pointed at that stack
    done = _run(script, *argv, "--aws-port", str(port), "--state-dir", str(tmp_path))
    # THEN it says in one line that the stack is not answering, and drops the stale file
    assert f"local stack at AWS port {port} is not answering" in _one_line_error(done)
    assert not path.exists()


@pytest.fixture
def hanging_up() -> Iterator[int]:
    """GIVEN a port that accepts connections and closes them unanswered (a dying stack)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.2)
        done = threading.Event()

        def hang_up() -> None:
            while not done.is_set():
                try:
                    connection, _ = sock.accept()
                except OSError:
                    continue
                connection.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        yield int(sock.getsockname()[1])
        done.set()
        thread.join(timeout=5)


def test_a_stack_that_stops_answering_midway_is_one_line(hanging_up: int, tmp_path: Path) -> None:
    # GIVEN a published stack whose emulators accept connections but answer nothing
    port = free_port()
    _publish(tmp_path, port, hanging_up, hanging_up)
    # WHEN an operator traces an event there
    done = _run(
        "ops.py",
        *("--aws-port", str(port), "trace", "e-1", "--state-dir", str(tmp_path)),
        env={"AWS_MAX_ATTEMPTS": "1"},
    )
    # THEN one line says the stack is not answering
    assert f"local stack at AWS port {port} is not answering" in _one_line_error(done)


def test_replay_without_aws_port_or_credentials_names_aws_port(tmp_path: Path) -> None:
    # GIVEN no credentials anywhere
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    # WHEN a replay runs without --aws-port
    done = _run("replay.py", "--projection", "accounts", env=env)
    # THEN one line says what to pass
    assert "--aws-port" in _one_line_error(done)


def test_token_names_the_aws_port_of_the_stack_that_runs(listening: int, tmp_path: Path) -> None:
    # GIVEN a stack running on a port other than the default
    _publish(tmp_path, listening, listening, free_port())
    # WHEN `token alice` is asked without --aws-port
    done = _run("local_stack.py", "token", "alice", "--state-dir", str(tmp_path))
    # THEN it names the --aws-port to pass
    assert f"--aws-port {listening}" in _one_line_error(done)


def test_seed_users_without_a_pool_names_aws_port(listening: int, tmp_path: Path) -> None:
    # GIVEN a running stack, and a stage config that names no user pool
    _publish(tmp_path, listening, listening, free_port())
    config = tmp_path / "config.json"
    config.write_text('{"stages": {"dev": {"environment_variables": {}}}}')
    # WHEN seeding without --aws-port
    done = _run(
        "seed_users.py",
        *("--api-url", "http://127.0.0.1:1", "--count", "1"),
        *("--chalice-config", str(config), "--state-dir", str(tmp_path)),
    )
    # THEN it says to pass that stack's --aws-port
    assert f"--aws-port {listening}" in _one_line_error(done)


@pytest.mark.parametrize(
    "argv",
    [
        ("local_stack.py", "up", "--api-port", "99999"),
        ("local_stack.py", "up", "--dynamodb-port", "-1"),
        ("local_stack.py", "token", "--aws-port", "0", "alice"),
        ("console.py", "--port", "70000"),
        ("ops.py", "dlq", "--aws-port", "65536"),
        ("replay.py", "--projection", "accounts", "--aws-port", "-3"),
        ("seed_users.py", "--aws-port", "0"),
    ],
)
def test_a_port_out_of_range_is_a_usage_error(argv: tuple[str, ...]) -> None:
    # GIVEN a tool given a port no socket can have
    # WHEN it runs
    done = _run(*argv)
    # THEN argparse names the range (exit 2), where bind() raised OverflowError before
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "a port is " in done.stderr.strip().splitlines()[-1]


def test_the_console_on_a_taken_port_is_one_line_and_never_says_ready(listening: int) -> None:
    # GIVEN something already listening on the console's port
    # WHEN the console is started there
    done = _run("console.py", "--port", str(listening), "--no-browser")
    # THEN one line names the port (exit 2), and "Console ready" was never printed
    assert f"port {listening} on 127.0.0.1 is in use" in _one_line_error(done)
    assert "ready" not in done.stdout


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://127.0.0.1:99999"])
def test_seed_users_refuses_an_api_url_it_cannot_call(url: str) -> None:
    # GIVEN an --api-url without a scheme, of another scheme, or with a port out of range
    # WHEN seeding with it
    done = _run("seed_users.py", "--api-url", url, "--count", "1")
    # THEN the usage and one line say so (exit 2), before any user is made
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "--api-url: not an http(s) URL" in done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:5"), "not answering"),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:5"), "not answering"),
        (NoCredentialsError(), "--aws-port"),
    ],
)
def test_reachability_errors_have_their_line(error: Exception, says: str) -> None:
    assert says in (explain(error, 5) or "")


def test_other_errors_are_not_explained_away() -> None:
    assert explain(ValueError("a bug"), 5) is None
