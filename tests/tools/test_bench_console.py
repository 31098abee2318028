"""The console benchmark runs on a tiny account and ends with its JSON summary."""

from __future__ import annotations

import json

import bench_console
import pytest


def test_bench_console_slider_prints_steps_and_the_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN 5 slider steps are timed on an account of 200 events
    assert bench_console.main(["slider", "--events", "200", "--steps", "5"]) == 0
    # THEN the summary holds every figure, and the ratio is the step's over the baseline
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["events"], figures["steps"]) == (200, 5)
    for key in ("baseline_at_fold_p50_ms", "step_fold_p95_ms", "step_http_p95_ms"):
        assert figures[key] > 0, key
    assert figures["ratio_step_p95_to_baseline"] == pytest.approx(
        figures["step_http_p95_ms"] / figures["baseline_at_fold_p50_ms"], rel=0.01
    )
