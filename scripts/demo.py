"""``make demo``: the whole story on the local stack, then stop everything.

Starts the local stack on free ports, seeds users over HTTP (each with their
own identity in the local Cognito pool), waits for the fan-out, and prints per
consumer how many users it received against how many its filter policy
selects, with the end-to-end latency (registration -> every selected consumer
applied). Every person then acts with their own access token, an operator
(group ``admin``) searches, and a stranger is refused. Exit 0 only if every
count matches.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from local_aws.identities import UserPoolIdentities
from local_aws.stack_process import LocalStackProcess, running_local_stack, wait_for
from projections.catalogue import PURCHASE_MADE

ROOT = Path(__file__).resolve().parent.parent
CONSUMER_TABLES = {
    "loyalty": "loyalty-enrolments",
    "gdpr": "gdpr-consents",
    "crm": "crm-contacts",
}


class Tokens:
    """Access tokens of the demo's people, minted in the stack's user pool (cached per run)."""

    def __init__(self, stack: LocalStackProcess) -> None:
        self._identities = UserPoolIdentities.for_local_stack(stack.aws_port, stack.log_path.parent)
        self._cache: dict[tuple[str, str | None], str] = {}

    def __call__(self, username: str, group: str | None = None) -> str:
        key = (username, group)
        if key not in self._cache:
            self._cache[key] = self._identities.token(username, group)
        return self._cache[key]


OPERATOR = "demo-operator"


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
            "--aws-port",
            str(stack.aws_port),
            "--state-dir",
            str(stack.log_path.parent),
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


def _ledger_count(stack: LocalStackProcess) -> int:
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=stack.name("ledger"), Select="COUNT")
    )
    return sum(page["Count"] for page in pages)


def _archived_count(stack: LocalStackProcess) -> int:
    s3 = stack.client("s3")
    bucket = stack.name("archive")
    lines: set[bytes] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            lines.update(line for line in body.splitlines() if line.strip())
    return len(lines)


def _call(
    http: requests.Session,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None,
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.request(method, url, json=body, headers=headers, timeout=30)
    return response.status_code, response.json()


def _reached(position: Callable[[], int], version: int) -> bool:
    return position() >= version


def _projection_latency(
    stack: LocalStackProcess, http: requests.Session, owner_id: str, token: str
) -> bool:
    """Command -> read model updated by the projector, over 20 deposits to a new account."""
    dynamodb = stack.client("dynamodb")
    _, account = _call(
        http,
        "POST",
        f"{stack.api_url}/accounts",
        {"owner_id": owner_id, "currency": "EUR"},
        token=token,
    )
    account_id = account["id"]

    def projected_version() -> int:
        item = dynamodb.get_item(
            TableName=stack.name("read-models"), Key={"pk": {"S": f"account#{account_id}"}}
        ).get("Item")
        return int(item["version"]["N"]) if item else 0

    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        status, body = _call(
            http,
            "POST",
            f"{stack.api_url}/accounts/{account_id}/deposits",
            {"amount": "1.00"},
            token=token,
        )
        if status != 201:
            return False
        wait_for(partial(_reached, projected_version, int(body["version"])), 30, interval=0.02)
        latencies.append(time.perf_counter() - started)
    print(
        f"  20 deposits, command -> read model updated: p50 {_percentile(latencies, 50):.2f}s, "
        f"p95 {_percentile(latencies, 95):.2f}s"
    )
    return True


def accounts_story(stack: LocalStackProcess, users: list[dict[str, Any]], tokens: Tokens) -> bool:
    """Accounts: deposits, withdrawals, an overdraft, a point-in-time read (as their owner)."""
    print("\n== Accounts (event-sourced, optimistic concurrency)", flush=True)
    api = stack.api_url
    ok = True
    token = tokens(users[0]["email"])
    with requests.Session() as http:
        _, account = _call(
            http,
            "POST",
            f"{api}/accounts",
            {"owner_id": users[0]["id"], "currency": "EUR"},
            token=token,
        )
        account_id = account["id"]
        print(f"opened account {account_id} for {users[0]['name']} {users[0]['lastname']}")
        steps: list[tuple[str, str]] = [
            ("deposits", "120.00"),
            ("withdrawals", "45.50"),
            ("deposits", "10.25"),
        ]
        instant = ""
        for i, (kind, amount) in enumerate(steps):
            status, body = _call(
                http, "POST", f"{api}/accounts/{account_id}/{kind}", {"amount": amount}, token=token
            )
            print(
                f"  {kind[:-1]:<10} {amount:>8} -> {status} version {body['version']}, "
                f"balance {body['balance']}"
            )
            ok &= status == 201
            if i == 1:
                time.sleep(0.05)
                instant = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                time.sleep(0.05)
        status, body = _call(
            http,
            "POST",
            f"{api}/accounts/{account_id}/withdrawals",
            {"amount": "1000.00"},
            token=token,
        )
        print(f"  overdraft  1000.00 -> {status} {body['error']}: {body['message']}")
        ok &= status == 409 and body["error"] == "insufficient_funds"
        _, now = _call(http, "GET", f"{api}/accounts/{account_id}", token=token)
        _, then = _call(http, "GET", f"{api}/accounts/{account_id}?at={instant}", token=token)
        print(
            f"  balance now {now['balance']} (version {now['version']}); "
            f"as of {instant}: {then['balance']} (version {then['version']})"
        )
        ok &= (now["balance"], then["balance"]) == ("84.75", "74.50")
        _, events = _call(http, "GET", f"{api}/accounts/{account_id}/events", token=token)
        print(
            "  events: "
            + ", ".join(
                f"v{e['aggregateversion']} {e['type'].rsplit('.', 1)[1]}" for e in events["events"]
            )
        )
        ok &= _projection_latency(stack, http, users[0]["id"], token)
        ok &= stranger_story(api, http, users, account_id, tokens)
    return ok


def stranger_story(
    api: str, http: requests.Session, users: list[dict[str, Any]], account_id: str, tokens: Tokens
) -> bool:
    """Another person, or nobody, reaches none of it: 404 as if unknown, 401 without a token."""
    owner, stranger = users[0], users[1]
    print(f"\n== A stranger ({stranger['name']} {stranger['lastname']}, own token)", flush=True)
    token = tokens(stranger["email"])
    user, _ = _call(http, "GET", f"{api}/users/{owner['id']}", token=token)
    account, _ = _call(http, "GET", f"{api}/accounts/{account_id}", token=token)
    withdrawal, _ = _call(
        http, "POST", f"{api}/accounts/{account_id}/withdrawals", {"amount": "1.00"}, token=token
    )
    anonymous, _ = _call(http, "GET", f"{api}/users/{owner['id']}", token=None)
    print(
        f"  GET the owner's user -> {user}, GET the account -> {account}, "
        f"withdraw from it -> {withdrawal}; without a token -> {anonymous}"
    )
    return (user, account, withdrawal, anonymous) == (404, 404, 404, 401)


def loyalty_story(
    stack: LocalStackProcess, users: list[dict[str, Any]], workdir: Path, tokens: Tokens
) -> bool:
    """Purchases, then a loyalty program built after the fact by replaying the archive."""
    print("\n== Purchases", flush=True)
    api = stack.api_url
    rng = random.Random(11)
    buyers = users[:: max(1, len(users) // 12)]
    with requests.Session() as http:
        total = 0
        for user in buyers:
            for n in range(rng.randint(1, 3)):
                amount = f"{rng.randint(5, 400)}.{rng.randint(0, 99):02d}"
                status, _ = _call(
                    http,
                    "POST",
                    f"{api}/users/{user['id']}/purchases",
                    {"order_id": f"demo-{user['id'][:8]}-{n}", "amount": amount, "currency": "EUR"},
                    token=tokens(user["email"]),
                )
                total += status == 201
        again = buyers[0]
        status, _ = _call(
            http,
            "POST",
            f"{api}/users/{again['id']}/purchases",
            {"order_id": f"demo-{again['id'][:8]}-0", "amount": "1.00", "currency": "EUR"},
            token=tokens(again["email"]),
        )
        print(
            f"{total} purchases by {len(buyers)} users; the same order_id again -> {status} "
            "(first result, nothing appended)"
        )
        late = next(u for u in users if not u["loyalty"] and u not in buyers)
        ok = _late_joiner(stack, http, late, tokens(late["email"]))
    print("\n== A loyalty program added after the fact: replay the S3 archive", flush=True)
    table = stack.name("loyalty-rebuild")
    # Firehose buffers a few seconds locally: wait until every ledger event is archived.
    wait_for(lambda: _archived_count(stack) >= _ledger_count(stack), timeout=60, interval=0.5)
    replay = stack.run_script(
        "replay.py",
        "--projection",
        "loyalty",
        "--source",
        "archive",
        "--table",
        table,
        "--early-adopters",
        "10",
        check=False,
    )
    if replay.returncode != 0:
        print(replay.stderr, file=sys.stderr)
        return False
    print("replay summary: " + replay.stdout.strip().splitlines()[-1])
    dynamodb = stack.client("dynamodb")
    order = sorted(users, key=lambda u: (u["created_at"], u["id"]))
    rank = {u["id"]: i + 1 for i, u in enumerate(order)}
    print(f"\n{'user':<22}{'registered #':>13}{'purchase pts':>13}{'bonus':>7}{'points':>8}  tier")
    for user in sorted(buyers, key=lambda u: rank[u["id"]]):
        item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"loyalty#{user['id']}"}})
        item = item.get("Item", {})
        bonus = int(item.get("bonus_points", {"N": "0"})["N"])
        points = int(item.get("purchase_points", {"N": "0"})["N"])
        ok &= (bonus > 0) == (rank[user["id"]] <= 10)
        name = f"{user['name']} {user['lastname']}"[:21]
        print(
            f"{name:<22}{rank[user['id']]:>13}{points:>13}{bonus:>7}{points + bonus:>8}  "
            f"{item.get('tier', {'S': '?'})['S']}"
        )
    print("(the first 10 registered users get the early-adopter bonus, retroactively)")
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"loyalty#{late['id']}"}})["Item"]
    rebuilt = int(item["purchase_points"]["N"])
    print(f"late joiner in the replay: {rebuilt} purchase points (the live model has 30)")
    return ok and rebuilt == 30


LATE_JOINER_PURCHASES = (("before-joining", "80.00"), ("after-joining", "30.00"))


def _late_joiner(
    stack: LocalStackProcess, http: requests.Session, user: dict[str, Any], token: str
) -> bool:
    """A user who buys, joins the loyalty programme, buys again: only the second counts."""
    api = stack.api_url
    name = f"{user['name']} {user['lastname']}"
    print(f"\n== A late joiner: {name} registered outside the loyalty programme", flush=True)
    (before, before_amount), (after, after_amount) = LATE_JOINER_PURCHASES
    order = {"order_id": f"{before}-{user['id'][:8]}", "amount": before_amount, "currency": "EUR"}
    ok = _call(http, "POST", f"{api}/users/{user['id']}/purchases", order, token=token)[0] == 201
    status, joined = _call(
        http, "PUT", f"{api}/users/{user['id']}/loyalty", {"member": True}, token=token
    )
    ok &= status == 200 and joined["loyalty"] is True
    order = {"order_id": f"{after}-{user['id'][:8]}", "amount": after_amount, "currency": "EUR"}
    ok &= _call(http, "POST", f"{api}/users/{user['id']}/purchases", order, token=token)[0] == 201
    print(f"  bought {before_amount}, joined (PUT loyalty -> {status}), bought {after_amount}")
    dynamodb = stack.client("dynamodb")

    def projected() -> list[int]:
        item = dynamodb.get_item(
            TableName=stack.name("read-models"), Key={"pk": {"S": f"loyalty#{user['id']}"}}
        ).get("Item")
        positions = item["positions"]["M"] if item else {}
        # Folded: registration and join (the user at v2) and both purchases: 4 events.
        if (
            item is None
            or item["version"]["N"] != "4"
            or positions.get(user["id"], {}).get("N") != "2"
        ):
            return []
        return [int(item["purchase_points"]["N"])]

    points = wait_for(projected, timeout=30)[0]

    def enrolled() -> dict[str, Any]:
        status, loyalty = _call(http, "GET", f"{api}/loyalty/{user['id']}", token=token)
        return loyalty if status == 200 and loyalty["enrolled"] else {}

    # The loyalty consumer enrols from the join event, which its queue delivers.
    loyalty = wait_for(enrolled, timeout=30)
    print(
        f"  live read model: {points} purchase points (the {before_amount} before joining "
        f"earns none); GET /loyalty -> enrolled, {loyalty['points']} points"
    )
    return ok and points == 30


def search_story(stack: LocalStackProcess, users: list[dict[str, Any]], tokens: Tokens) -> bool:
    """Searches over the event index (SQLite FTS5 locally, OpenSearch in AWS), for operators."""
    print("\n== Search (GET /search, an operator in group admin)", flush=True)
    api = stack.api_url
    person = users[1]
    token = tokens(OPERATOR, "admin")
    with requests.Session() as http:

        def found() -> dict[str, Any]:
            _, body = _call(http, "GET", f"{api}/search?q={person['lastname']}", token=token)
            return body if body["total"] else {}

        by_name = wait_for(found, timeout=30, interval=0.5)
        _, purchases = _call(http, "GET", f"{api}/search?type={PURCHASE_MADE}&size=3", token=token)
        _, by_subject = _call(http, "GET", f"{api}/search?subject={person['id']}", token=token)
        _, bad = _call(http, "GET", f"{api}/search?size=1000", token=token)
        customer, _ = _call(
            http, "GET", f"{api}/search?q={person['lastname']}", token=tokens(person["email"])
        )
    print(
        f"  q={person['lastname']!r}: {by_name['total']} event(s), first "
        f"{by_name['events'][0]['type']} of {by_name['events'][0]['subject'][:8]}..."
    )
    print(
        f"  type={PURCHASE_MADE}: {purchases['total']} events, newest "
        f"{purchases['events'][0]['data']['amount']} {purchases['events'][0]['data']['currency']}"
    )
    print(
        f"  subject={person['id'][:8]}...: {by_subject['total']} event(s); "
        f"size=1000 -> {bad['error']}; a customer searching -> {customer}"
    )
    return bool(by_name["total"]) and bad["error"] == "validation_error" and customer == 403


def erasure_story(stack: LocalStackProcess, users: list[dict[str, Any]], tokens: Tokens) -> bool:
    """The right to erasure, asked by the person: their key is deleted, every copy unreadable."""
    print("\n== GDPR erasure (crypto-shredding), asked by the person", flush=True)
    api = stack.api_url
    person = next(u for u in users if u["consents"]["marketing"])
    uid = person["id"]
    own, operator = tokens(person["email"]), tokens(OPERATOR, "admin")
    with requests.Session() as http:
        _, before = _call(http, "GET", f"{api}/users/{uid}", token=own)
        crm_before, _ = _call(http, "GET", f"{api}/crm/contacts/{uid}", token=own)
        status, erased = _call(http, "POST", f"{api}/gdpr/erasure/{uid}", token=own)
        again, _ = _call(http, "POST", f"{api}/gdpr/erasure/{uid}", token=own)
        _, after = _call(http, "GET", f"{api}/users/{uid}", token=operator)
        # Their token is still valid for a while, but reaches no command any more.
        purchase = {"order_id": "after-erasure", "amount": "1.00", "currency": "EUR"}
        bought, _ = _call(http, "POST", f"{api}/users/{uid}/purchases", purchase, token=own)

        def settled() -> bool:
            crm, _ = _call(http, "GET", f"{api}/crm/contacts/{uid}", token=operator)
            _, hits = _call(http, "GET", f"{api}/search?q={person['lastname']}", token=operator)
            return crm == 404 and all(e["subject"] != uid for e in hits["events"])

        wait_for(settled, timeout=30, interval=0.5)
        _, docs = _call(http, "GET", f"{api}/search?subject={uid}", token=operator)
    print(
        f"  before: {before['name']} {before['lastname']} <{before['email']}>, "
        f"CRM contact {crm_before}"
    )
    print(f"  POST /gdpr/erasure -> {status} {erased['status']} (again -> {again}, a no-op)")
    print(f"  their old token's purchase -> {bought}; their Cognito user is deleted next")
    print(
        f"  after:  {after['name']} {after['lastname']} <{after['email']}>, CRM contact 404, "
        f"indexed events show {docs['events'][0]['data'].get('lastname')!r}"
    )
    return status == 202 and again == 202 and after["email"] == "[erased]" and bought == 404


def operations_story(stack: LocalStackProcess) -> bool:
    """ops.py: the failure queues, then where one registration went."""
    print("\n== Operating it (scripts/ops.py)", flush=True)
    port = str(urlparse(stack.aws_url).port)
    local = ["--aws-port", port, "--state-dir", str(stack.log_path.parent)]
    print(f"$ python scripts/ops.py --aws-port {port} dlq")
    dlq = stack.run_script("ops.py", *local, "dlq", check=False)
    print(dlq.stdout.rstrip())
    registered = [
        item["last_event_id"]["S"]
        for item in _scan(stack, CONSUMER_TABLES["gdpr"]).values()
        if item["version"]["N"] == "1"
    ]
    print(f"\n$ python scripts/ops.py --aws-port {port} trace {registered[0]}")
    traced = stack.run_script("ops.py", *local, "trace", registered[0], check=False)
    print(traced.stdout.rstrip())
    if traced.returncode != 0 or dlq.returncode != 0:
        print(dlq.stderr + traced.stderr, file=sys.stderr)
        return False
    return re.search(r"consumer gdpr\s+at v1 \(applied\)", traced.stdout) is not None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="evp-demo-") as tmp:
        workdir = Path(tmp)
        print(
            "== Starting the local stack (DynamoDB Local, moto server, chalice local, "
            "event sources)",
            flush=True,
        )
        with running_local_stack(workdir / "stack.log") as stack:
            print(
                f"API ready at {stack.api_url} (AWS endpoint {stack.aws_url}, "
                f"DynamoDB endpoint {stack.dynamodb_url})",
                flush=True,
            )
            ok = fan_out_story(stack, 60, workdir)
            users = json.loads((workdir / "users.json").read_text())
            tokens = Tokens(stack)
            ok &= accounts_story(stack, users, tokens)
            ok &= loyalty_story(stack, users, workdir, tokens)
            ok &= search_story(stack, users, tokens)
            ok &= erasure_story(stack, users, tokens)
            ok &= operations_story(stack)
        print("\n== Local stack stopped", flush=True)
    print("demo finished: OK" if ok else "demo finished: MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
