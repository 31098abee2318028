"""One line instead of a traceback when a local tool cannot reach AWS or a local stack.

The tools (``ops.py``, ``replay.py``, ``seed_users.py``, ``local_stack.py
token``) talk to AWS, or to a local stack through ``--aws-port``. A stack that
died, or a shell without credentials, is the user's situation to fix, not a
bug: they get one line saying what is wrong and what to pass, and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    ConnectionClosedError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as EndpointUnreachable

from local_aws.stack_state import START_HINT

__all__ = ["ToolFailed", "explain", "one_line_errors"]

EXIT_CODE = 2


class ToolFailed(SystemExit):
    """Raised by ``one_line_errors`` after printing its line: exit code 2."""


def explain(exc: BaseException, aws_port: int | None) -> str | None:
    """The line a user reads for ``exc``, or None if it is not a reachability problem."""
    if isinstance(exc, (EndpointUnreachable, ConnectionClosedError, ReadTimeoutError)):
        if aws_port is not None:
            return (
                f"the local stack at AWS port {aws_port} is not answering "
                f"({exc.kwargs.get('endpoint_url')}); start it again with: "
                f"{START_HINT} --aws-port {aws_port}"
            )
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            "no AWS credentials: pass --aws-port P to use the local stack serving AWS on "
            "port P, or set the stage's credentials (AWS_PROFILE, ...)"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --aws-port P of a local stack, or set AWS_REGION"
    return None


@contextmanager
def one_line_errors(aws_port: int | None) -> Iterator[None]:
    """Turn a reachability error into one line on stderr and exit 2 (ToolFailed)."""
    try:
        yield
    except Exception as exc:
        line = explain(exc, aws_port)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr, flush=True)
        raise ToolFailed(EXIT_CODE) from None
