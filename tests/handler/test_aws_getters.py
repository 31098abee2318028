"""The boto3 getters under chalice local's many request threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters import aws
from chalicelib.adapters.ledger import EventLedger

THREADS = 8
QUERIES_PER_THREAD = 80


@pytest.fixture
def threads_switch_often() -> Iterator[None]:
    """Threads handed the interpreter every microsecond, so interleavings are many."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_ledger_queries_from_many_threads_all_succeed(
    aws_env: dict[str, str], threads_switch_often: None
) -> None:
    # GIVEN the ledger as the API builds it per request, from the shared getters,
    # in as many threads as chalice local serves requests with
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def read_histories(worker: int) -> None:
        start.wait()
        try:
            for number in range(QUERIES_PER_THREAD):
                # WHEN each thread reads aggregates' histories (a key condition each)
                EventLedger(aws.table("ledger")).load(f"agg-{worker}", after_version=number)
        except BaseException as exc:  # any failure is the finding
            failures.append(exc)

    threads = [threading.Thread(target=read_histories, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every query was well formed and answered: no thread saw another's condition
    assert failures == []


def test_a_reset_gives_every_thread_a_fresh_table(aws_env: dict[str, str]) -> None:
    # GIVEN a table got once in this thread
    before: Any = aws.table("ledger")
    # WHEN the getters are reset (a test switching environments)
    aws.reset()
    # THEN the next one is built anew, from the current settings
    assert aws.table("ledger").meta.client is not before.meta.client
