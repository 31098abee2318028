"""Rebuild without downtime: a new generation, caught up, switched to; the old one dropped."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
import replay as replay_script

from chalicelib.adapters import aws as aws_getters
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.read_model_catalog import read_model
from chalicelib.adapters.read_model_generations import GenerationStore
from chalicelib.adapters.read_models import ReadModelStore
from chalicelib.domain.exceptions import ConcurrencyConflict
from chalicelib.entrypoints.roots import stores
from chalicelib.service import projector
from tests.handler.test_replay import REGION, _heavy_buyer, aws, history, run  # noqa: F401

ACCOUNTS = read_model("accounts")
LOYALTY = read_model("loyalty")


@pytest.fixture
def live(aws: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """GIVEN the whole history in the ledger, projected live into generation 0 (acc-1 at v3),
    and an archive that lacks the latest deposit (Firehose has not delivered it yet)."""
    aws_getters.reset()
    events = history()
    ledger = EventLedger(aws["ledger"])
    for event in events:
        ledger.append([event])
    projector.project_records(
        [e.to_json() for e in events], ReadModelStore(aws["read_models"]), [ACCOUNTS]
    )
    archived = b"\n".join(e.to_json() for e in events[:4]) + b"\n"
    aws["s3"].put_object(
        Bucket=aws["bucket"], Key="events/year=2026/month=03/day=01/a", Body=archived
    )
    return aws


def _read_version(table: Any) -> int:
    """What a reader gets: the pointer, then the item of the active generation."""
    active = GenerationStore(table).of("accounts").active
    state = ReadModelStore(table).state(ACCOUNTS.at(active), "acc-1")
    return -1 if state is None else state.version


def test_a_rebuild_never_serves_a_state_older_than_before_it_started(
    live: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name = live["read_models"].name
    before = _read_version(live["read_models"])
    assert before == 3
    seen: list[int] = []
    stop, reading = threading.Event(), threading.Event()

    def reader() -> None:
        table = boto3.resource("dynamodb", region_name=REGION).Table(name)
        while not stop.is_set():
            seen.append(_read_version(table))
            reading.set()
            # A short pause between reads: in-process moto serves both threads under one
            # lock, and a reader that never pauses can starve the rebuild of it for minutes.
            stop.wait(0.005)

    thread = threading.Thread(target=reader)
    thread.start()
    # The rebuild starts once reads are going on (a thread's first read builds its client).
    assert reading.wait(timeout=60)
    try:
        # WHEN accounts is rebuilt into a new generation from the (stale) archive
        summary = run(capsys, "--projection", "accounts", "--source", "archive", "--new-generation")
    finally:
        stop.set()
        thread.join()
    seen.append(_read_version(live["read_models"]))
    # THEN readers never got an older state, before, during or after the switch
    assert len(seen) > 1 and min(seen) >= before, seen
    # AND the new generation is active, caught up from the ledger (the archive missed v3)
    assert (summary["generation"], summary["previous_generation"]) == (1, 0)
    assert summary["caught_up_events"] == 1
    generations = GenerationStore(live["read_models"]).of("accounts")
    assert (generations.active, generations.building, generations.previous) == (1, None, (0,))
    # AND the old generation is kept until dropped with one command
    store = ReadModelStore(live["read_models"])
    assert store.state(ACCOUNTS, "acc-1") is not None
    dropped = run(capsys, "--projection", "accounts", "--drop-previous")
    assert (dropped["dropped_generations"], dropped["items_deleted"]) == ([0], 1)
    assert store.state(ACCOUNTS, "acc-1") is None
    assert GenerationStore(live["read_models"]).of("accounts").previous == ()
    assert _read_version(live["read_models"]) == 3


def test_while_a_generation_is_built_the_projector_keeps_both(live: dict[str, Any]) -> None:
    # GIVEN a rebuild of accounts under way (generation 1 open, nothing in it yet)
    generations = GenerationStore(live["read_models"])
    assert generations.start("accounts") == 1
    # WHEN the projector gets the account's events again (as a retry would)
    models = stores.live_read_models()
    assert {m.label for m in models if m.name == "accounts"} == {"accounts", "accounts@1"}
    events = [e.to_json() for e in history()]
    projector.project_records(
        events, ReadModelStore(live["read_models"]), models, stores.ledger().raw_events
    )
    # THEN the new generation has the account too, and readers still use generation 0
    store = ReadModelStore(live["read_models"])
    assert store.state(ACCOUNTS.at(1), "acc-1").version == 3  # type: ignore[union-attr]
    assert stores.read_model("accounts").generation == 0
    # AND a second rebuild cannot open meanwhile
    with pytest.raises(ConcurrencyConflict):
        generations.start("accounts")


def test_a_failed_rebuild_leaves_readers_where_they_were(
    live: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN writing the new generation fails (say, the table throttles the rebuild)
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(ReadModelStore, "write_all", refuse)
    # WHEN accounts is rebuilt into a new generation
    with pytest.raises(RuntimeError):
        replay_script.main(["--projection", "accounts", "--new-generation"])
    # THEN readers stay on generation 0, and the abandoned one waits to be dropped
    generations = GenerationStore(live["read_models"])
    current = generations.of("accounts")
    assert (current.active, current.building, current.previous) == (0, None, (1,))
    assert _read_version(live["read_models"]) == 3
    # AND a switch to it is refused
    with pytest.raises(ConcurrencyConflict):
        generations.switch("accounts", 1)


def test_a_loyalty_rebuild_catches_up_purchases_kept_in_position_items(
    aws: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a member's 20 purchases projected live into generation 0 (each purchase's
    # position in an item of its own), and an archive that lacks the last purchase
    aws_getters.reset()
    events = _heavy_buyer(20)
    ledger = EventLedger(aws["ledger"])
    for event in events:
        ledger.append([event])
    store = ReadModelStore(aws["read_models"])
    projector.project_records([e.to_json() for e in events], store, [LOYALTY], ledger.raw_events)
    archived = b"\n".join(e.to_json() for e in events[:-1]) + b"\n"
    aws["s3"].put_object(
        Bucket=aws["bucket"], Key="events/year=2026/month=03/day=01/a", Body=archived
    )
    # WHEN loyalty is rebuilt into a new generation from the archive
    summary = run(capsys, "--projection", "loyalty", "--source", "archive", "--new-generation")
    # THEN the last purchase was caught up from the ledger through its position item
    assert (summary["generation"], summary["caught_up_events"]) == (1, 1)
    rebuilt = store.load(LOYALTY.at(1), "u3")
    assert rebuilt is not None and rebuilt.state.purchase_points == 200
    assert rebuilt.state.pending == () and dict(rebuilt.positions) == {"u3": 1}
    assert store.applied(LOYALTY.at(1), "u3", "purchase-u3-19") == 1
    # AND a retry of every record changes neither generation
    stats = projector.project_records(
        [e.to_json() for e in events], store, [LOYALTY, LOYALTY.at(1)], ledger.raw_events
    )
    assert (stats.applied, stats.duplicates) == (0, 21)
    # AND dropping generation 0 deletes its item and its 20 position items
    dropped = run(capsys, "--projection", "loyalty", "--drop-previous")
    assert (dropped["dropped_generations"], dropped["items_deleted"]) == ([0], 21)
    assert store.applied(LOYALTY, "u3", "purchase-u3-0") is None
    assert store.applied(LOYALTY.at(1), "u3", "purchase-u3-0") == 1
