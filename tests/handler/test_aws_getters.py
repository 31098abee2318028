"""The boto3 getters under chalice local's many request threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters import aws
from chalicelib.adapters.ledger import EventLedger
from chalicelib.domain.exceptions import MissingSetting
from chalicelib.settings import load_settings

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


def test_a_thread_gets_its_own_tables_once_each(aws_env: dict[str, str]) -> None:
    # GIVEN the ledger and users tables got in this thread
    ledger, users = aws.table("ledger"), aws.table("users")
    # WHEN they are got again here, and the ledger in another thread
    elsewhere: list[Any] = []
    other = threading.Thread(target=lambda: elsewhere.append(aws.table("ledger")))
    other.start()
    other.join()
    # THEN this thread's are the same objects (boto3 builds a Table's class per call),
    # one per table, and the other thread's is its own, from its own resource
    assert aws.table("ledger") is ledger and aws.table("users") is users
    assert ledger is not users and ledger.name != users.name
    assert elsewhere[0] is not ledger and elsewhere[0].meta.client is not ledger.meta.client


@pytest.mark.parametrize(("variable", "attempts"), [(None, 6), ("1", 1), ("3", 3)])
def test_clients_make_the_attempts_aws_max_attempts_says(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, variable: str | None, attempts: int
) -> None:
    # GIVEN boto3's AWS_MAX_ATTEMPTS set (or not) in the environment
    if variable is None:
        monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    else:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", variable)
    aws.reset()
    # WHEN a client and a table are made
    made = [aws.client("sqs"), aws.table("ledger").meta.client]
    # THEN each makes that many attempts per call, the first included (6 by default)
    assert [client.meta.config.retries["total_max_attempts"] for client in made] == [
        attempts,
        attempts,
    ]


@pytest.mark.parametrize("variable", ["0", "-1", "two"])
def test_an_aws_max_attempts_that_is_not_a_positive_integer_fails_loudly(variable: str) -> None:
    # GIVEN AWS_MAX_ATTEMPTS that boto3 could not use
    # WHEN the settings are read
    # THEN they fail, naming it
    with pytest.raises(MissingSetting, match="AWS_MAX_ATTEMPTS"):
        load_settings({"AWS_MAX_ATTEMPTS": variable})
