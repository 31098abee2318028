"""argparse types for the TCP ports the local tools take (``--aws-port``, ``--port``, ...)."""

from __future__ import annotations

import argparse

__all__ = ["MAX_PORT", "tcp_port", "tcp_port_or_any"]

MAX_PORT = 65535


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None


def tcp_port(text: str) -> int:
    """A TCP port, 1 to 65535; an argparse error otherwise."""
    value = _number(text)
    if not 1 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is 1 to {MAX_PORT}, got {text}")
    return value


def tcp_port_or_any(text: str) -> int:
    """A TCP port, or 0 for any free one; an argparse error otherwise."""
    value = _number(text)
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is 0 (any free one) to {MAX_PORT}, got {text}")
    return value
