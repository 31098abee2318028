"""Benchmark the operator console: slider steps on a long account, page loads on demo data.

``python scripts/bench_console.py slider [--events 10000] [--steps 50]``
    An account of N events (opened, then deposits and withdrawals) held as the
    console holds it after its page loaded; each slider step is timed as the
    fold alone and as the browser's request to a console served on loopback.
    Baseline, in the same run: the API's own ``?at=`` fold over every event.

``python scripts/bench_console.py pages [--loads 20]``
    A local stack with ``make console``'s demo data and the console on it;
    each page loaded N times in headless Chromium (to the load event and the
    page's data drawn: charts, the whole trace; plain HTTP if there is no
    Chromium). p50/p95 per page.

Prints figures and, as its last line, a JSON summary; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import uvicorn

from local_aws.stack_process import free_port, running_local_stack, wait_for
from operations.environment import use_local_stack
from opsconsole.data import ConsoleData
from opsconsole.demo_data import seed
from opsconsole.timemachine import AccountHistory
from opsconsole.web import create_app
from projections.accounts import account_at
from projections.catalogue import ACCOUNT_DEPOSITED, ACCOUNT_OPENED, ACCOUNT_WITHDRAWN

ACCOUNT = "bench-account"
# What shows a page's data drawn (after the load event, htmx and the charts run).
READY = {
    "account": ".chart canvas",
    "person": ".chart canvas",
    "trace": '#hops[data-done="true"]',
    "flow": "body[data-flow-loaded]",
}


def _p(samples: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``samples`` in ms (nearest rank)."""
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, round(pct * (len(ordered) - 1)))] * 1000, 1)


def _percentiles(samples: list[float]) -> str:
    p50, p95, top = _p(samples, 0.5), _p(samples, 0.95), _p(samples, 1)
    return f"p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  max {top:8.1f} ms"


def _events(count: int) -> list[str]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    raw = []
    for version in range(1, count + 1):
        kind = (
            ACCOUNT_OPENED
            if version == 1
            else (ACCOUNT_WITHDRAWN if version % 5 == 0 else ACCOUNT_DEPOSITED)
        )
        data: dict[str, Any] = {"account_id": ACCOUNT}
        if kind == ACCOUNT_OPENED:
            data |= {"owner_id": "bench-owner", "currency": "EUR"}
        else:
            data["amount"] = "3.00" if kind == ACCOUNT_WITHDRAWN else "10.00"
        raw.append(
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": f"bench-{version}",
                    "source": "/accounts",
                    "type": kind,
                    "time": (start + timedelta(seconds=version)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "subject": ACCOUNT,
                    "datacontenttype": "application/json",
                    "aggregateversion": version,
                    "data": data,
                }
            )
        )
    return raw


@contextmanager
def _serving(data: ConsoleData) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(data), host="127.0.0.1", port=port, access_log=False, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def bench_slider(events: int, steps: int) -> dict[str, Any]:
    raw = _events(events)
    versions = [random.Random(7).randint(1, events) for _ in range(steps)]
    # Baseline: GET /accounts/{id}?at= folds every event up to the instant.
    last_time = json.loads(raw[-1])["time"]
    baseline = [_timed(lambda: account_at(raw, ACCOUNT, last_time)) for _ in range(10)]
    built: list[AccountHistory] = []
    load = _timed(lambda: built.append(AccountHistory(ACCOUNT, raw)))
    history = built[0]
    folds = [_timed(lambda v=v: history.state_at_version(v)) for v in versions]  # type: ignore[misc]
    data = ConsoleData(local=True)
    data.histories.put(history)
    with _serving(data) as url, requests.Session() as http:
        http.get(f"{url}/accounts/{ACCOUNT}/state", params={"version": 1}, timeout=30)

        def step(version: int) -> None:
            response = http.get(
                f"{url}/accounts/{ACCOUNT}/state", params={"version": version}, timeout=30
            )
            assert response.status_code == 200 and "state-balance" in response.text

        http_steps = [_timed(lambda v=v: step(v)) for v in versions]  # type: ignore[misc]
    print(f"account of {events} events, {steps} slider steps at random versions")
    print(f"  baseline: ?at= fold of all events   {_percentiles(baseline)}")
    print(f"  page load: timeline + balances      {load * 1000:8.1f} ms (once per page load)")
    print(f"  slider step, fold only              {_percentiles(folds)}")
    print(f"  slider step, HTTP to the console    {_percentiles(http_steps)}")
    ratio = round(_p(http_steps, 0.95) / _p(baseline, 0.5), 2)
    print(f"  ratio: slider step (HTTP p95) / baseline p50 = {ratio}")
    return {
        "events": events,
        "steps": steps,
        "baseline_at_fold_p50_ms": _p(baseline, 0.5),
        "page_load_fold_ms": round(load * 1000, 1),
        "step_fold_p50_ms": _p(folds, 0.5),
        "step_fold_p95_ms": _p(folds, 0.95),
        "step_http_p50_ms": _p(http_steps, 0.5),
        "step_http_p95_ms": _p(http_steps, 0.95),
        "ratio_step_p95_to_baseline": ratio,
    }


def _page_urls(url: str, created: dict[str, Any], event_id: str) -> dict[str, str]:
    account, user = created["accounts"][0], created["users"][0]
    return {
        "accounts": f"{url}/accounts?q={user}",
        "account": f"{url}/accounts/{account}",
        "person": f"{url}/people/{user}",
        "trace": f"{url}/trace?event_id={event_id}&subject={user}",
        "failures": f"{url}/failures",
        "flow": f"{url}/flow",
    }


def bench_pages(loads: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-console-") as workdir,
        running_local_stack(Path(workdir) / "stack.log") as stack,
    ):
        use_local_stack(stack.aws_port, stack.state_dir)
        created = seed(stack)
        item = stack.client("dynamodb").get_item(
            TableName=stack.name("ledger"),
            Key={"aggregate_id": {"S": created["users"][0]}, "version": {"N": "1"}},
        )["Item"]
        event_id = json.loads(item["event"]["S"])["id"]
        time.sleep(8)  # the archive and index deliveries of the demo data
        with _serving(ConsoleData(local=True)) as url:
            return _load_pages(_page_urls(url, created, event_id), loads)


def _load_pages(urls: dict[str, str], loads: int) -> dict[str, Any]:
    chromium = shutil.which("chromium")
    how = "headless Chromium, to the load event and the data drawn" if chromium else "HTTP GET"
    print(f"page loads on the demo data ({loads} per page, {how})")
    if chromium:
        return _pages_in_browser(chromium, urls, loads)
    figures: dict[str, Any] = {}
    with requests.Session() as http:
        for name, page_url in urls.items():
            times = [_timed(lambda u=page_url: http.get(u)) for _ in range(loads)]  # type: ignore[misc]
            print(f"  {name:9} {_percentiles(times)}")
            figures[name] = {"p50_ms": _p(times, 0.5), "p95_ms": _p(times, 0.95)}
    return figures


def _pages_in_browser(chromium: str, urls: dict[str, str], loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page()
        figures: dict[str, Any] = {}
        for name, page_url in urls.items():
            page.goto(page_url)  # warm: assets cached as an operator's browser has them
            times, server = [], []
            for _ in range(loads):
                started = time.perf_counter()
                response = page.goto(page_url, wait_until="load")
                if name in READY:
                    page.wait_for_selector(READY[name])
                times.append(time.perf_counter() - started)
                timing = response.headers.get("server-timing", "") if response else ""
                if "dur=" in timing:
                    server.append(float(timing.split("dur=")[1]) / 1000)
            print(f"  {name:9} {_percentiles(times)}   (server: {_percentiles(server)})")
            figures[name] = {
                "p50_ms": _p(times, 0.5),
                "p95_ms": _p(times, 0.95),
                "server_p50_ms": _p(server, 0.5),
            }
        browser.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    slider = sub.add_parser("slider", help="slider steps on a long account")
    slider.add_argument("--events", type=int, default=10_000)
    slider.add_argument("--steps", type=int, default=50)
    pages = sub.add_parser("pages", help="page loads on the demo data")
    pages.add_argument("--loads", type=int, default=20)
    args = parser.parse_args(argv)
    if args.bench == "slider":
        summary = bench_slider(args.events, args.steps)
    else:
        summary = bench_pages(args.loads)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
