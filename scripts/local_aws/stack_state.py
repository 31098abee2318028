"""What a running local stack publishes for the local tools, keyed by its AWS port.

``local_stack.py up`` writes one JSON file per stack into its state folder:
the environment its processes run with (the AWS endpoint, the DynamoDB Local
endpoints, credentials, region and every resource setting). A local tool given
``--aws-port`` loads that file and so finds the other endpoints by itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "API_URL_VAR",
    "DEFAULT_STATE_DIR",
    "StackNotRunning",
    "load",
    "publish",
    "state_file",
    "use",
    "withdraw",
]

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / ".local-stack"
# Published next to the environment: where the stack's API answers.
API_URL_VAR = "LOCAL_STACK_API_URL"


class StackNotRunning(RuntimeError):
    """No local stack has published its settings for that AWS port."""


def state_file(aws_port: int, state_dir: Path | None = None) -> Path:
    """Where the stack serving AWS on ``aws_port`` publishes its environment."""
    return (state_dir or DEFAULT_STATE_DIR) / f"stack-{aws_port}.json"


def publish(aws_port: int, environment: Mapping[str, str], state_dir: Path | None = None) -> Path:
    """Write the stack's environment atomically (readers never see half a file)."""
    path = state_file(aws_port, state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(dict(environment), indent=2, sort_keys=True))
    partial.replace(path)
    return path


def load(aws_port: int, state_dir: Path | None = None) -> dict[str, str]:
    """The environment published by the stack on ``aws_port``; StackNotRunning if none."""
    path = state_file(aws_port, state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackNotRunning(
            f"no local stack publishes AWS port {aws_port} (expected {path}); "
            "start one with: python scripts/local_stack.py up"
        ) from None
    return {str(name): str(value) for name, value in data.items()}


def use(aws_port: int, state_dir: Path | None = None) -> dict[str, str]:
    """Point this process (boto3, the settings) at the stack on ``aws_port``; its environment."""
    environment = load(aws_port, state_dir)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(environment)
    return environment


def withdraw(aws_port: int, state_dir: Path | None = None) -> None:
    """Remove the stack's published environment (on shutdown)."""
    state_file(aws_port, state_dir).unlink(missing_ok=True)
