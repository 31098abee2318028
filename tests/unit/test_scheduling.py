"""make test's scheduler: only a short unit waits behind the deploy rehearsal."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.scheduling import ShortAfterLongScheduling, make_scheduler

REHEARSAL = "tests/infra/test_deploy_rehearsal.py::test_the_documented_deployment_succeeds"
# Longest first, as tests/conftest.py orders them: a group, the rehearsal, two groups,
# then single short tests.
COLLECTION = [
    *(f"tests/e2e/test_a.py::test_{n}@e2e" for n in range(5)),
    REHEARSAL,
    *(f"tests/infra/test_iam.py::test_{n}@iam-audit" for n in range(3)),
    *(f"tests/infra/test_plan.py::test_{n}@monitoring-plan" for n in range(3)),
    *(f"tests/unit/test_quick.py::test_{n}" for n in range(6)),
]


class _Worker:
    """A pytest-xdist worker as the scheduler sees it: the tests it was sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[str] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent += [COLLECTION[i] for i in indexes]

    def shutdown(self) -> None:
        self.shutting_down = True


def _config(dist: str = "loadgroup") -> Any:
    option = SimpleNamespace(tx=["3*popen"], loadscopereorder=False, dist=dist)
    return SimpleNamespace(option=option, getvalue=lambda name: getattr(option, name))


def _started(workers: list[_Worker]) -> ShortAfterLongScheduling:
    scheduler = make_scheduler(_config(), None)
    assert isinstance(scheduler, ShortAfterLongScheduling)
    for worker in workers:
        scheduler.add_node(worker)  # type: ignore[arg-type]
        scheduler.add_node_collection(worker, COLLECTION)  # type: ignore[arg-type]
    scheduler.schedule()
    return scheduler


def test_the_rehearsals_worker_holds_one_short_test_behind_it() -> None:
    # GIVEN three workers and a collection ordered longest first
    workers = [_Worker(f"gw{n}") for n in range(3)]
    # WHEN the work is first handed out (each worker needs a next test before it runs one)
    _started(workers)
    # THEN the e2e group, the rehearsal and the IAM audit start on a worker each, and the
    # rehearsal's worker holds the last (shortest) test next, not the monitoring plan
    e2e, rehearsal, audit = (worker.sent for worker in workers)
    assert e2e[0].endswith("@e2e") and audit[0].endswith("@iam-audit")
    assert rehearsal == [REHEARSAL, "tests/unit/test_quick.py::test_5"]


def test_the_rehearsals_worker_takes_work_in_order_once_it_is_done() -> None:
    # GIVEN the work handed out
    workers = [_Worker(f"gw{n}") for n in range(3)]
    scheduler = _started(workers)
    # WHEN the rehearsal and the short test behind it are done
    for index in (COLLECTION.index(REHEARSAL), len(COLLECTION) - 1):
        scheduler.mark_test_complete(workers[1], index)  # type: ignore[arg-type]
    # THEN that worker takes the next units in the queue's order
    assert workers[1].sent[2].startswith("tests/infra/test_plan.py::")


def test_other_modes_keep_xdists_scheduler() -> None:
    assert make_scheduler(_config(dist="load"), None) is None
