"""ops.py's commands as an operator runs them (in-process moto, the stage's settings)."""

from __future__ import annotations

import json
from typing import Any

import ops
import pytest

from chalicelib.adapters.search.sqlite import SqliteSearchIndex


def _last_json(out: str) -> dict[str, Any]:
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_tracing_an_unknown_event_exits_non_zero(
    aws_env: dict[str, str],
    sqlite_search_index: SqliteSearchIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN an operator traces an id the ledger does not hold
    code = ops.main(["trace", "no-such-event"])
    # THEN it says so and exits 1
    assert code == 1
    assert "not in the ledger" in capsys.readouterr().out


def test_an_unknown_queue_under_json_still_ends_in_json(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN a redrive names no failure queue, machine-readably
    code = ops.main(["redrive", "nope", "--json"])
    # THEN exit 2, one line on stderr, and the last line of stdout is the error as JSON
    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "no failure queue 'nope'" in _last_json(out)["error"]


def test_json_is_accepted_before_the_subcommand_too(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN --json comes before the subcommand
    assert ops.main(["--json", "dlq"]) == 0
    # THEN the last line is the JSON listing
    assert "queues" in _last_json(capsys.readouterr().out)


def test_redriving_stream_failures_says_they_are_reinvoked(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the (empty) stream failure queue is redriven
    assert ops.main(["redrive", "stream-failures"]) == 0
    # THEN it says the failed functions are re-invoked, not that anything goes back on the stream
    out = capsys.readouterr().out
    assert out.startswith("re-invoked 0 failed batch(es)")
    assert "back to" not in out
