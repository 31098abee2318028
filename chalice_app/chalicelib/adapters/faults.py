"""Fault injection for failure drills: a switch an operator or a test controls.

The setting ``FAULT_INJECTION_FILE`` names a JSON file ``{"<handler>":
"<reason>"}``; while a handler is listed there it fails every event it is
given with InjectedFault, exactly as a real outage of its dependency would,
and recovers as soon as the entry (or the file) is gone. The file is read on
every call, so the switch takes effect without a restart. Unset, nothing is
read.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from chalicelib.domain.exceptions import InjectedFault
from chalicelib.settings import get_settings

__all__ = ["check"]


def check(handler: str) -> None:
    """Raise InjectedFault if the fault switch names ``handler``."""
    path = get_settings().fault_injection_file
    if not path:
        return
    try:
        switches = orjson.loads(Path(path).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return
    reason = switches.get(handler) if isinstance(switches, dict) else None
    if reason:
        raise InjectedFault(f"{handler}: {reason}")
