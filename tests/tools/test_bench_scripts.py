"""Every benchmark script runs on a tiny input and ends with its JSON summary.

No figure is asserted (timings depend on the machine); the keys and their
consistency are, so a script cannot rot unnoticed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _summary(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert isinstance(summary, dict)
    return summary


def test_bench_replay_prints_ours_the_peers_and_the_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench_replay

    # WHEN replaying 2,000 events over 50 accounts, ours and the peer's
    assert bench_replay.main(["--events", "2000", "--accounts", "50", "--rounds", "1"]) == 0
    # THEN the summary holds both rates and the ratio (the peer saw every distinct event)
    figures = _summary(capsys)
    assert figures["events"] >= 2000
    assert figures["peer_events"] == 2000
    for key in (
        "parse_events_per_s",
        "replay_events_per_s",
        "ratio_to_parse",
        "peer_reconstruct_events_per_s",
        "peer_project_events_per_s",
        "ratio_to_peer",
    ):
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
    assert figures["peer_events_per_s"] == max(
        figures["peer_reconstruct_events_per_s"], figures["peer_project_events_per_s"]
    )


def test_bench_replay_without_the_peer_keeps_its_own_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench_replay

    # WHEN an archive as the writer before the catalogue wrote it is replayed, without the peer
    args = ["--events", "500", "--accounts", "20", "--rounds", "1", "--no-peer"]
    assert bench_replay.main([*args, "--written-by", "before-catalogue"]) == 0
    # THEN only our own figures are printed, and whose archive it was
    figures = _summary(capsys)
    assert set(figures) == {
        "events",
        "parse_events_per_s",
        "replay_events_per_s",
        "ratio_to_parse",
        "written_by",
    }
    assert figures["written_by"] == "before-catalogue"


def test_bench_tag_scan_prints_both_orders_the_scan_and_its_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench_tag_scan

    # WHEN 500 events are decoded in each attribute order, and scanned once
    args = ["--events", "500", "--accounts", "20", "--lines", "100", "--rounds", "1"]
    assert bench_tag_scan.main(args) == 0
    # THEN the summary holds each cost per line and the tag scan as their difference
    figures = _summary(capsys)
    assert figures["lines"] == 500
    for key in ("decode_today_ns", "decode_before_catalogue_ns", "one_scan_ns"):
        assert figures[key] > 0, key
    assert figures["tag_scan_ns"] == pytest.approx(
        figures["decode_before_catalogue_ns"] - figures["decode_today_ns"], abs=0.2
    )


def test_bench_replay_with_workers_prints_both_rates_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench_replay

    # WHEN replaying 3,000 events with one process and with two, side by side
    argv = ["--events", "3000", "--accounts", "60", "--rounds", "1", "--no-peer", "--workers", "2"]
    assert bench_replay.main(argv) == 0
    # THEN the last line holds both rates, their ratio, the parallel parse and the load
    figures = _summary(capsys)
    assert figures["workers"] == 2
    ratio = figures["replay_workers_events_per_s"] / figures["replay_events_per_s"]
    assert abs(figures["ratio_workers_to_one"] - ratio) < 0.01
    for key in ("parse_workers_events_per_s", "workers_ratio_to_parse", "load_average"):
        assert isinstance(figures[key], int | float) and figures[key] >= 0, key


def test_bench_cold_start_prints_import_and_first_call_per_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench_cold_start

    # WHEN measuring one round of the API's two figures (GET /health, and POST /users with
    # a valid token: neither needs AWS to be measured)
    figures_of = ["api_handler", bench_cold_start.API_REGISTRATION]
    assert bench_cold_start.main(["--rounds", "1", "--handlers", *figures_of]) == 0
    # THEN the summary compares import app with import boto3, pydantic
    figures = _summary(capsys)
    assert figures["rounds"] == 1
    assert set(figures["handlers"]) == set(figures_of)
    api = figures["handlers"]["api_handler"]
    assert api["import_s"] > 0 and api["first_call_s"] is not None
    # The ratio is rounded from the unrounded times: compare within its rounding.
    assert figures["import_ratio"] == pytest.approx(
        figures["app_import_s"] / figures["baseline_import_s"], abs=0.01
    )
    # AND the cold start: import plus first call, compared less the boto3 client creation
    assert api["cold_s"] == pytest.approx(api["import_s"] + api["first_call_s"], abs=0.0002)
    assert 0 <= api["clients_s"] <= api["first_call_s"]
    assert api["cold_ratio"] == pytest.approx(
        (api["cold_s"] - api["clients_s"]) / figures["baseline_import_s"], abs=0.01
    )
    # AND the authenticated request has its own figure, its call creating AWS clients
    registration = figures["handlers"][bench_cold_start.API_REGISTRATION]
    assert registration["first_call_s"] is not None and registration["clients_s"] > 0


def test_bench_cold_start_stage_environment_loads_settings_without_defaults() -> None:
    from bench_cold_start import lambda_environment

    from chalicelib import resources
    from chalicelib.settings import load_settings

    # GIVEN the environment the benchmark gives its processes
    env = lambda_environment([])
    settings = load_settings(env)
    # THEN every resource is named by the stage, as a deployed function's would be
    assert settings.name_prefix == "evp-dev"
    assert all(name.startswith("evp-dev-") for name in settings.tables.values())
    assert all(env[t.env_var] == settings.table(t.key) for t in resources.TABLES)
    assert settings.ledger_stream_arn.startswith("arn:aws:dynamodb:")
    assert settings.opensearch_endpoint.startswith("https://")


def test_bench_registration_prints_its_percentiles(capsys: pytest.CaptureFixture[str]) -> None:
    import bench_registration

    assert bench_registration.main(["--users", "4"]) == 0
    figures = _summary(capsys)
    assert figures["users"] == 4
    assert {"plain_p50_ms", "sealed_p50_ms", "ratio_p50"} <= set(figures)


def test_bench_auth_prints_both_paths_and_the_verifier_alone() -> None:
    # WHEN the verification benchmark runs briefly (its own process: it sets the environment)
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_auth.py"), "--requests", "5", "--warmup", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # THEN its last line is the summary of the same request with and without verification
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["requests"] == 5
    difference = figures["verified_p50_ms"] - figures["plain_p50_ms"]
    assert abs(figures["overhead_p50_ms"] - difference) <= 0.002  # each figure rounded
    assert figures["verify_only_p50_us"] > 0


def test_bench_aws_calls_counts_every_hop_of_both_flows() -> None:
    # WHEN the AWS call count runs once per flow (its own process: it imports the app)
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_aws_calls.py"), "--runs", "1", "--burst", "2"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # THEN a registration reached every subscriber and the email went out
    registration = summary["registration"]
    assert registration["sqs:ReceiveMessage"] == registration["sqs:DeleteMessageBatch"] >= 4
    assert registration["sesv2:SendEmail"] == 1
    assert registration["kinesis:PutRecords"] == registration["sns:PublishBatch"] == 1
    # AND a deposit published nothing to the topic
    assert "sns:PublishBatch" not in summary["deposit"]
    # AND each flow is priced, a burst no dearer per flow than one alone
    costs = summary["cost_usd_per_million"]
    assert 0 < costs["registration_burst"] <= costs["registration"]
    assert 0 < costs["deposit_burst"] <= costs["deposit"]


def test_readme_aws_call_tables_are_their_units_at_the_declared_prices() -> None:
    import re

    import bench_aws_calls

    # GIVEN the README's generated block
    readme = bench_aws_calls.README.read_text()
    begin = readme.index(bench_aws_calls.README_BEGIN) + len(bench_aws_calls.README_BEGIN)
    block = readme[begin : readme.index(bench_aws_calls.README_END)]
    # THEN its price table is the script's
    assert bench_aws_calls.price_table() in block
    # AND every row's cost is its billed units at those prices, and the totals add up
    tables = block.split("**")[1:]
    assert len(tables) >= 8  # a title and a total per flow
    rows = re.findall(r"^\| `[^`]+` \| [^|]* \| [\d.]+ \| ([^|]+) \| ([\d.]+) \|$", block, re.M)
    assert rows
    for units_text, cost in rows:
        units = {
            key: float(amount)
            for amount, key in (part.split(" ") for part in units_text.strip().split(", "))
        }
        assert bench_aws_calls.cost_usd(units) * 1e6 == pytest.approx(float(cost), abs=2e-4)
    for flow in block.split("\n\n**")[1:]:
        costs = [
            float(c) for _, c in re.findall(r"^\| `[^`]+` .*\| ([^|]+) \| ([\d.]+) \|$", flow, re.M)
        ]
        total = re.search(r"^\| \*\*total\*\* \|.*\| \*\*([\d.]+)\*\* \|$", flow, re.M)
        assert total is not None
        assert sum(costs) == pytest.approx(float(total.group(1)), abs=5e-4)


def test_bench_loyalty_item_prints_the_heavy_buyers_item_size_per_chunk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bench_loyalty_item

    # WHEN 300 purchases, a leaving and 300 more go through the projector, in chunks of 200
    # (and 100, a leaving and 100 more without the ledger's watermark, as the baseline)
    argv = ["--purchases", "300", "--every", "200", "--rounds", "1", "--baseline", "100"]
    assert bench_loyalty_item.main(argv) == 0
    # THEN the summary has the item's size and the chunks' times, and the points are the
    # purchases made while a member (300 x 42); each purchase's position is its own item
    figures = _summary(capsys)
    assert figures["events"] == 602
    assert figures["points"] == 300 * 42
    assert figures["positions_in_item"] == 1
    assert figures["position_items"] == 600
    assert 0 < figures["item_bytes"] < 8 * 1024
    assert len(figures["seconds_per_chunk"]) == 3
    assert figures["chunk_spread"] >= 0 and figures["last_to_first"] > 0
    # AND the baseline settled nothing: every purchase since the leaving is pending
    assert figures["baseline"]["events"] == 202
    assert figures["baseline"]["pending"] == 100
