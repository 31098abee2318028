"""argparse types for the TCP ports the local tools take (``--aws-port``, ``--port``, ...)."""

from __future__ import annotations

import argparse

__all__ = ["MAX_PORT", "tcp_port", "tcp_port_or_any"]

MAX_PORT = 65535


def _port_from(text: str, lowest: int, range_words: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not lowest <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is {range_words} to {MAX_PORT}, got {text}")
    return value


def tcp_port(text: str) -> int:
    """A TCP port, 1 to 65535; an argparse error otherwise."""
    return _port_from(text, 1, "1")


def tcp_port_or_any(text: str) -> int:
    """A TCP port, or 0 for any free one; an argparse error otherwise."""
    return _port_from(text, 0, "0 (any free one)")
