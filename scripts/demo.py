"""``make demo``: the whole story on the local stack, then stop everything.

Starts the local stack on free ports, seeds users over HTTP, waits for the
fan-out, and prints per consumer how many users it received against how many
its filter policy selects, with the end-to-end latency (registration ->
every selected consumer applied). Exit 0 only if every count matches.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from local_aws.stack_process import LocalStackProcess, running_local_stack, wait_for

ROOT = Path(__file__).resolve().parent.parent
CONSUMER_TABLES = {
    "loyalty": "loyalty-enrolments",
    "gdpr": "gdpr-consents",
    "crm": "crm-contacts",
}


def _scan(stack: LocalStackProcess, suffix: str) -> dict[str, dict[str, Any]]:
    dynamodb = stack.client("dynamodb")
    items: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": stack.name(suffix)}
    while True:
        page = dynamodb.scan(**kwargs)
        for item in page["Items"]:
            items[item["user_id"]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _expected(users: list[dict[str, Any]]) -> dict[str, set[str]]:
    return {
        "loyalty": {u["id"] for u in users if u["loyalty"]},
        "gdpr": {u["id"] for u in users},
        "crm": {u["id"] for u in users if u["consents"]["marketing"]},
    }


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def fan_out_story(stack: LocalStackProcess, count: int, workdir: Path) -> bool:
    """Seed users and report the fan-out per consumer; True if every count matches."""
    print(f"\n== Registering {count} users over HTTP (scripts/seed_users.py)", flush=True)
    users_file = workdir / "users.json"
    seed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "seed_users.py"),
            "--api-url",
            stack.api_url,
            "--count",
            str(count),
            "--seed",
            "7",
            "--output",
            str(users_file),
        ],
        check=False,
    )
    if seed.returncode != 0:
        print("seeding failed", file=sys.stderr)
        return False
    users = json.loads(users_file.read_text())
    expected = _expected(users)

    def received() -> dict[str, dict[str, dict[str, Any]]] | None:
        got = {key: _scan(stack, suffix) for key, suffix in CONSUMER_TABLES.items()}
        done = all(expected[key] <= set(got[key]) for key in got)
        return got if done else None

    print("== Waiting for the fan-out (SNS -> SQS -> consumers)", flush=True)
    try:
        got = wait_for(received, timeout=120, interval=0.5)
    except TimeoutError:
        got = {key: _scan(stack, suffix) for key, suffix in CONSUMER_TABLES.items()}
    time.sleep(1.0)  # let any stray extra delivery land before counting
    got = {key: _scan(stack, suffix) for key, suffix in CONSUMER_TABLES.items()}

    print(f"\n{'consumer':<10}{'filter':<22}{'expected':>9}{'received':>9}{'extra':>7}  result")
    filters = {"loyalty": "loyalty=true", "gdpr": "every user", "crm": "marketing=true"}
    ok = True
    for key in CONSUMER_TABLES:
        ids = set(got[key]) & {u["id"] for u in users}
        missing, extra = expected[key] - ids, ids - expected[key]
        good = not missing and not extra
        ok &= good
        print(
            f"{key:<10}{filters[key]:<22}{len(expected[key]):>9}{len(ids):>9}{len(extra):>7}"
            f"  {'OK' if good else 'MISMATCH'}"
        )

    latencies = []
    for user in users:
        applied = [
            _time(got[key][user["id"]]["applied_at"]["S"])
            for key in CONSUMER_TABLES
            if user["id"] in expected[key] and user["id"] in got[key]
        ]
        if applied:
            latencies.append((max(applied) - _time(user["created_at"])).total_seconds())
    if latencies:
        print(
            f"\nregistration -> all selected consumers done, over {len(latencies)} users: "
            f"p50 {_percentile(latencies, 50):.2f}s, p95 {_percentile(latencies, 95):.2f}s, "
            f"max {max(latencies):.2f}s (mean {statistics.fmean(latencies):.2f}s)"
        )
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="evp-demo-") as tmp:
        workdir = Path(tmp)
        print("== Starting the local stack (moto server, chalice local, event sources)", flush=True)
        with running_local_stack(workdir / "stack.log") as stack:
            print(f"API ready at {stack.api_url} (AWS endpoint {stack.aws_url})", flush=True)
            ok = fan_out_story(stack, 60, workdir)
        print("\n== Local stack stopped", flush=True)
    print("demo finished: OK" if ok else "demo finished: MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
