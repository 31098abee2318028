"""The console's pure parts: the time machine's folds, the flow's counts, the trace's hops."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from opsconsole.data import ConsoleData
from opsconsole.flow import counts_over_time
from opsconsole.timemachine import AccountHistory
from opsconsole.web import pipeline_hops
from projections.accounts import Account, account_at

ACCOUNT = "acc-1"
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _event(version: int, kind: str, amount: str | None = None, minutes: int = 0) -> str:
    data: dict[str, Any] = {"account_id": ACCOUNT}
    if kind == "opened":
        data |= {"owner_id": "u-1", "currency": "EUR"}
    else:
        data["amount"] = amount
    when = START + timedelta(minutes=minutes or version)
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{version}",
            "source": "/accounts",
            "type": f"com.example.account.{kind}",
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "subject": ACCOUNT,
            "datacontenttype": "application/json",
            "aggregateversion": version,
            "data": data,
        }
    )


def _history() -> AccountHistory:
    return AccountHistory(
        ACCOUNT,
        [
            _event(1, "opened"),
            _event(2, "deposited", "10.00"),
            _event(3, "deposited", "20.00"),
            _event(4, "deposited", "30.00"),
            _event(5, "withdrawn", "5.00"),
        ],
    )


def test_the_timeline_has_a_row_per_event_with_the_balance_after_it() -> None:
    # GIVEN an account opened, deposited into 3 times and withdrawn from once
    history = _history()
    # THEN the timeline and the chart have 5 points and the balances of the fold
    assert [r.balance for r in history.rows] == ["0.00", "10.00", "30.00", "60.00", "55.00"]
    assert [r.kind for r in history.rows][:2] == ["opened", "deposited"]
    assert [r.amount for r in history.rows] == [None, "10.00", "20.00", "30.00", "5.00"]
    assert history.series()["y"] == [0.0, 10.0, 30.0, 60.0, 55.0]
    assert len(history.series()["x"]) == 5


def test_a_slider_step_is_the_point_in_time_fold_of_that_many_events() -> None:
    history = _history()
    raw = [_event(v, k, a) for v, k, a in [(1, "opened", None), (2, "deposited", "10.00")]]
    raw += [_event(3, "deposited", "20.00")]
    # WHEN the slider is at version 3
    state = history.state_at_version(3)
    # THEN it is what GET /accounts/{id}?at=<time of version 3> folds
    at = (START + timedelta(minutes=3)).isoformat()
    assert state == account_at(raw, ACCOUNT, at)
    assert state == Account(ACCOUNT, "u-1", "EUR", 3000, 3)
    # AND the ends of the slider are clamped
    assert history.state_at_version(0) is None
    assert history.state_at_version(99) == history.folded


def test_the_read_model_check_tells_agreement_lag_and_disagreement() -> None:
    history = _history()
    agrees = ConsoleData._check(history, Account(ACCOUNT, "u-1", "EUR", 3000, 3))
    assert (agrees.agrees, agrees.behind) == (True, 2)
    assert "2 version(s) behind" in agrees.message
    wrong = ConsoleData._check(history, Account(ACCOUNT, "u-1", "EUR", 99_900, 5))
    assert wrong.agrees is False
    assert "disagrees" in wrong.message
    missing = ConsoleData._check(history, None)
    assert "no row" in missing.message


def test_flow_counts_per_minute_and_a_stalled_consumer_stays_flat() -> None:
    now = START.timestamp() + 10 * 60
    events = [
        {"id": f"e{i}", "type": "com.example.user.created", "time": f"2026-11-27T10:0{i}:30Z"}
        for i in range(5, 10)
    ]
    # GIVEN gdpr applied every event, crm stalled after the first
    applied = {"gdpr": {e["id"] for e in events}, "crm": {"e5"}}
    counts = counts_over_time(events, applied, now=now, minutes=6)
    # THEN each minute has its count, zero where nothing happened
    assert counts["types"]["com.example.user.created"] == [1, 1, 1, 1, 1, 0]
    assert counts["consumers"]["gdpr"] == [1, 1, 1, 1, 1, 0]
    assert counts["consumers"]["crm"] == [1, 0, 0, 0, 0, 0]
    assert counts["x"][-1] == now - now % 60 and len(counts["x"]) == 6


def test_flow_leaves_out_events_older_than_the_window() -> None:
    now = START.timestamp()
    old = [{"id": "old", "type": "t", "time": "2020-01-01T00:00:00Z"}]
    assert counts_over_time(old, {}, now=now, minutes=5)["types"] == {}


def test_the_trace_becomes_a_pipeline_ofpipeline_hops() -> None:
    result = {
        "event_id": "e1",
        "type": "com.example.user.created",
        "subject": "u1",
        "aggregateversion": 1,
        "time": "2026-11-27T10:00:00Z",
        "ledger": {"aggregate_id": "u1", "version": 1},
        "stream": {"shard": "s-1", "sequence_number": "9", "arrived": "2026-11-27 10:00:01"},
        "archive": None,
        "index": True,
        "consumers": {
            "gdpr": {"version": 1, "applied": True},
            "crm": {"version": 0, "applied": False},
            "loyalty": {"version": 0, "applied": False, "subscribed": False},
        },
    }
    hops = {h["name"]: h["state"] for h in pipeline_hops(result)}
    assert hops == {
        "ledger": "ok",
        "relay": "ok",
        "stream": "ok",
        "archive": "pending",
        "index": "ok",
        "consumer crm": "pending",
        "consumer gdpr": "ok",
        "consumer loyalty": "skipped",
    }
    assert pipeline_hops({"event_id": "nope", "ledger": None}) == []
