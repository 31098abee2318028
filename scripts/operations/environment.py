"""Where ops.py points: a running local stack, or the stage's settings (AWS)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from chalicelib.adapters import aws
from local_aws import stack_state
from local_aws.port_arguments import tcp_port

__all__ = ["add_target_arguments", "use_local_stack"]


def use_local_stack(aws_port: int, state_dir: Path | None = None) -> dict[str, str]:
    """Adopt the environment the local stack on ``aws_port`` published (endpoints, names).

    Raises stack_state.StackNotRunning if no stack serves that port.
    """
    environment = stack_state.load(aws_port, state_dir)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(environment)
    aws.reset()
    return environment


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--aws-port`` and ``--state-dir``: the operator tools' choice of local stack or AWS."""
    parser.add_argument(
        "--aws-port", type=tcp_port, help="AWS port of a running local stack (default: AWS)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=stack_state.DEFAULT_STATE_DIR,
        help="where the local stack publishes its environment (`up --state-dir`)",
    )
