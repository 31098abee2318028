"""make test's pytest-xdist scheduler: loadgroup, with nothing long queued behind the rehearsal."""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController

__all__ = ["LONG_SINGLE_TESTS", "ShortAfterLongScheduling", "make_scheduler"]

# Units of one test that take minutes. A worker runs a test only once it holds the
# next one, so xdist hands it a second unit at once; that unit waits behind this one
# (it was the monitoring plan, 15 s after the 5-minute rehearsal, while the other
# workers had run out of work). It gets the last unit of the queue instead: the
# queue is longest first, so that is one of the shortest.
LONG_SINGLE_TESTS = ("tests/infra/test_deploy_rehearsal.py::",)


class ShortAfterLongScheduling(LoadGroupScheduling):
    """``--dist loadgroup``; a worker on a LONG_SINGLE_TESTS test gets the shortest unit next."""

    def _on_long_test(self, node: WorkerController) -> bool:
        return any(
            scope.startswith(LONG_SINGLE_TESTS) and not all(tests.values())
            for scope, tests in self.assigned_work.get(node, {}).items()
        )

    def _assign_work_unit(self, node: WorkerController) -> None:
        if self._on_long_test(node):
            self.workqueue.move_to_end(next(reversed(self.workqueue)), last=False)
        super()._assign_work_unit(node)


def make_scheduler(config: Any, log: Any) -> ShortAfterLongScheduling | None:
    """The scheduler for ``--dist loadgroup`` (None: xdist's own for the other modes)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return ShortAfterLongScheduling(config, log)
