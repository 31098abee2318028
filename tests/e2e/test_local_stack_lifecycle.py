"""The local stack's own contract: ready line, health, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from local_aws.stack_process import running_local_stack, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _rebindable(port: int) -> bool:
    # SO_REUSEADDR as every HTTP server sets it: sockets the dead servers left in
    # TIME_WAIT do not block a restart, a live listener does.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def _children_of(pid: int) -> set[int]:
    """Live descendants of ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _json_routes(path: Path) -> set[str]:
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    return {str(json.loads(line).get("route")) for line in lines}


def test_sigterm_stops_every_child_and_frees_the_ports(tmp_path: Path) -> None:
    # GIVEN a running local stack with its children (DynamoDB Local, moto server, chalice local)
    with running_local_stack(tmp_path / "stack.log", verbose=False) as stack:
        urls = (stack.api_url, stack.aws_url, stack.dynamodb_url)
        ports = [p for p in (urlsplit(url).port for url in urls) if p]
        assert requests.get(f"{stack.api_url}/health", timeout=10).json() == {"status": "ok"}
        log = stack.log_path.read_text()
        assert f"API ready at {stack.api_url}" in log
        assert f"DynamoDB endpoint {stack.dynamodb_url}" in log
        assert len(ports) == 3 and all(_listening(p) for p in ports)
        children = _children_of(stack.pid)
        assert len(children) >= 3
        # AND without -v the terminal shows the stack's own lines only: the handlers'
        # JSON log lines are in the log file it names
        handler_log = tmp_path / f"stack-{stack.aws_port}.log"
        assert f"handler logs in {handler_log}" in log
        assert not [line for line in log.splitlines() if line.startswith("{")]
        wait_for(lambda: "/health" in _json_routes(handler_log), timeout=10)
    # WHEN it has been sent SIGTERM (on leaving the context)
    # THEN every child process is gone, nothing listens, and both ports can be reused
    assert not [pid for pid in children if _alive(pid)]
    assert not any(_listening(p) for p in ports)
    assert all(_rebindable(p) for p in ports)


def test_sigkill_leaves_no_child_behind_and_the_tools_drop_its_state(tmp_path: Path) -> None:
    # GIVEN a running local stack with its children
    with running_local_stack(tmp_path / "stack.log") as stack:
        urls = (stack.api_url, stack.aws_url, stack.dynamodb_url)
        ports = [p for p in (urlsplit(url).port for url in urls) if p]
        children = _children_of(stack.pid)
        assert len(children) >= 3
        # WHEN `up` is killed with no chance to clean up
        os.kill(stack.pid, signal.SIGKILL)
        # THEN its children die with it and free their ports
        wait_for(lambda: not [pid for pid in children if _alive(pid)], timeout=20)
        wait_for(lambda: not any(_listening(p) for p in ports), timeout=10)
        assert all(_rebindable(p) for p in ports)
        # AND a tool pointed at it says in one line that it is not answering, and drops the
        # state file the killed stack left behind
        done = stack.run_script(
            "ops.py",
            "--aws-port",
            str(stack.aws_port),
            "--state-dir",
            str(stack.state_dir),
            "dlq",
            check=False,
        )
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and "not answering" in done.stderr
        assert not (stack.state_dir / f"stack-{stack.aws_port}.json").exists()
