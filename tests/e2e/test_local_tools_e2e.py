"""End to end: local tools given --aws-port find the stack's endpoints by themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_aws.stack_process import LocalStackProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def _tool(stack: LocalStackProcess, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<script>`` with no AWS setting but the stack's --aws-port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / script),
            *args,
            "--aws-port",
            str(stack.aws_port),
            "--state-dir",
            str(stack.state_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_seed_users_and_replay_reach_the_stack_from_its_aws_port(
    local_stack: LocalStackProcess,
) -> None:
    # GIVEN a running stack, and tools started with nothing but its AWS port
    # WHEN seeding users through it, then replaying the ledger (on DynamoDB Local)
    seeded = _tool(local_stack, "seed_users.py", "--count", "3", "--seed", "77", "--no-progress")
    replayed = _tool(
        local_stack, "replay.py", "--projection", "accounts", "--source", "ledger", "--dry-run"
    )
    # THEN the users were created on the stack's API and the replay read its ledger
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout.strip().splitlines()[-1])["created"] == 3
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout.strip().splitlines()[-1])["events_read"] >= 3


def test_seed_users_given_only_the_stacks_api_url_uses_its_user_pool(
    local_stack: LocalStackProcess,
) -> None:
    # GIVEN a running stack, and no AWS setting and no --aws-port
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COGNITO_"))}
    # WHEN seeding users with nothing but the stack's API URL
    seeded = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "seed_users.py"),
            *("--api-url", local_stack.api_url, "--count", "2", "--seed", "78"),
            *("--no-progress", "--state-dir", str(local_stack.state_dir)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN the people were made in that stack's pool and registered on its API
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout.strip().splitlines()[-1])["created"] == 2


def test_a_port_no_stack_publishes_is_a_clear_error(local_stack: LocalStackProcess) -> None:
    # WHEN a tool is pointed at an AWS port no stack serves
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "replay.py"),
            "--projection",
            "accounts",
            "--aws-port",
            "1",
            "--state-dir",
            str(local_stack.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN it says so and how to start one
    assert result.returncode == 2
    assert "no local stack publishes AWS port 1" in result.stderr
