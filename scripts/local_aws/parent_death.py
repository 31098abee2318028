"""Children that die with the local stack, even when it is killed with SIGKILL.

``local_stack.py up`` stops its children on Ctrl-C and SIGTERM. A SIGKILL (or
an OOM kill) gives it no chance to: DynamoDB Local, moto server and
``chalice local`` would live on and keep their ports. On Linux each child
asks the kernel, between fork and exec, to be sent SIGKILL when its parent
dies (``prctl(PR_SET_PDEATHSIG)``; kept across exec, so it holds for the JVM
too). The kernel sends it when the *thread* that forked the child exits, so
children are started from the main thread only, which lives as long as the
process. Elsewhere (macOS) there is no such call and this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] = libc.prctl
    return prctl


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGKILL when this process dies (None off Linux).

    Call it, and start the child, from the main thread (see the module's docstring).
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("children that die with the stack are started from the main thread")
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def in_child() -> None:
        # Runs in the forked child before exec: no imports, no locks, only these calls.
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:
            # The parent died between fork and prctl: no signal will come.
            os._exit(1)

    return in_child
