"""Where ops.py points: a running local stack, or the stage's settings (AWS)."""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib import aws
from local_aws import stack_state

__all__ = ["use_local_stack"]


def use_local_stack(aws_port: int, state_dir: Path | None = None) -> dict[str, str]:
    """Adopt the environment the local stack on ``aws_port`` published (endpoints, names).

    Raises stack_state.StackNotRunning if no stack serves that port.
    """
    environment = stack_state.load(aws_port, state_dir)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(environment)
    aws.reset()
    return environment
