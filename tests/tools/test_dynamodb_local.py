"""Starting DynamoDB Local: what it needs, and how the local stack refuses to run without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local_aws import dynamodb_local

ROOT = Path(__file__).resolve().parents[2]


def test_without_java_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a PATH with no java on it
    monkeypatch.setenv("PATH", str(tmp_path))
    # WHEN asking what is missing
    missing = dynamodb_local.missing_requirement()
    # THEN one line names Java as the thing to install
    assert missing is not None and "\n" not in missing
    assert "Java" in missing and "install" in missing


def test_without_the_distribution_it_says_to_run_make_install(tmp_path: Path) -> None:
    # GIVEN java on PATH (this machine) but an empty install folder
    # WHEN asking what is missing
    missing = dynamodb_local.missing_requirement(tmp_path)
    # THEN it points at make install
    assert missing is not None and "make install" in missing


def test_it_runs_in_memory_with_one_database_and_no_telemetry(tmp_path: Path) -> None:
    # WHEN building the command for port 8123
    argv = dynamodb_local.command(8123, tmp_path)
    # THEN it is in memory, shared across credentials/regions, offline, on that port
    assert argv[0] == "java"
    assert {"-inMemory", "-sharedDb", "-disableTelemetry"} <= set(argv)
    assert argv[argv.index("-port") + 1] == "8123"
    assert f"-Djava.library.path={tmp_path / 'DynamoDBLocal_lib'}" in argv


def test_up_without_java_exits_at_once_with_one_line(tmp_path: Path) -> None:
    # GIVEN an environment whose PATH has no java
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    # WHEN starting the local stack
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "local_stack.py"),
            "up",
            "--state-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN it fails with one line about Java, and starts nothing (no moto fallback)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Java" in lines[0], result.stderr
    assert "API ready" not in result.stdout
    assert not list(tmp_path.glob("stack-*.json"))
