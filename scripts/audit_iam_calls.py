"""Record what IAM must allow each function, by running its code paths.

    python scripts/audit_iam_calls.py

Runs the whole pipeline in this process on moto, as bench_aws_calls.py does
(the API through Chalice's test client, every event source played by its
synchronous pump, the Firehose transformation), through every route of the
API and the lifecycle of a person: registration, account, deposits past
a snapshot (at a boundary of 3 versions, not the app's 50: the same calls),
withdrawal, purchases (with an idempotency key, and its replay), loyalty and
consent changes, every read, a search, the erasure; then the replay state
machine's steps over the archived history (replay_worker). Every AWS call a function
makes is recorded (local_aws.call_counter) and turned into the IAM requests
AWS makes for it (local_aws.iam_audit), with the resource ARNs of the moto
account. The OpenSearch requests of the API's search are recorded from the
OpenSearch adapter itself (the pipeline indexes into SQLite in-process).

The last line is JSON: {"region", "account_id", "routes": [...exercised],
"functions": {handler: [{"action", "resource", "context"}, ...]}}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from bench_aws_calls import REGION, Bench, in_process_platform, own_process

from chalicelib import resources
from chalicelib.adapters import aws
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.search import ensure_alias
from chalicelib.adapters.search.opensearch import OpenSearchIndex
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from chalicelib.entrypoints.search_params import parse_search_query
from chalicelib.service import accounts as account_service
from chalicelib.settings import get_settings
from local_aws.iam_audit import IamRequest, iam_requests

__all__ = ["api_search_requests", "main", "record"]

ACCOUNT_ID = "123456789012"  # moto's default account
API_HANDLER = "api_handler"
REPLAY_BUCKETS = 2  # the archive's buckets in the replay flow
# An account is snapshotted every account_service.SNAPSHOT_EVERY (50) versions; the calls
# a snapshot makes are the same at any boundary, so the flows run with a short one: at
# 50, the deposits that reach it (each folding a longer tail) were half the audit's time.
SNAPSHOT_EVERY = 3


class Flows:
    """Every route of the API as a customer, an operator and marketing would call it."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.routes: set[tuple[str, str]] = set()

    def call(
        self,
        method: str,
        route: str,
        sub: str | None = None,
        groups: tuple[str, ...] = (),
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: str = "",
        **ids: str,
    ) -> Any:
        """One request to ``route`` (its ``{ids}`` filled in) as ``sub``; it must succeed."""
        path = route.format(**ids) + query
        sent = dict(headers or {})
        if sub is not None:
            sent["Authorization"] = f"Bearer {self.bench.signer.token(sub, groups)}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        with self.bench.counter.acting_as("api"), own_process():
            response = getattr(self.bench.client.http, method.lower())(
                path, headers=sent, body=json.dumps(body) if body is not None else None
            )
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.body!r}")
        self.routes.add((method, route))
        return response.json_body

    def person(self) -> None:
        """A person's whole lifecycle, each step followed by the pipeline."""
        bench, settle = self.bench, self.bench.pipeline.settle
        user = bench.register()  # loyalty and marketing: every subscriber runs
        account = bench.open_account(user)
        bench.deposit(user, account)
        self.routes |= {("POST", "/users"), ("POST", "/accounts")}
        self.routes.add(("POST", "/accounts/{account_id}/deposits"))
        for _ in range(SNAPSHOT_EVERY):  # long enough an account to be snapshotted (record)
            bench.deposit(user, account, settle=False)
        settle()
        withdrawal = {"amount": "2.50"}
        self.call(
            "POST", "/accounts/{account_id}/withdrawals", user, body=withdrawal, account_id=account
        )
        purchase = {"order_id": "order-1", "amount": "9.99", "currency": "EUR"}
        key = {"Idempotency-Key": "purchase-1"}
        for _ in range(2):  # the same key and body again: the stored response
            self.call(
                "POST", "/users/{user_id}/purchases", user, body=purchase, headers=key, user_id=user
            )
        settle()
        for member in (False, True):
            self.call(
                "PUT", "/users/{user_id}/loyalty", user, body={"member": member}, user_id=user
            )
            settle()
        for marketing in (False, True):  # consent again: the CRM reads the registration
            consents = {"marketing": marketing}
            self.call("PUT", "/users/{user_id}/consents", user, body=consents, user_id=user)
            settle()
        self.reads(user, account)
        self.call("POST", "/gdpr/erasure/{user_id}", user, user_id=user)
        settle()

    def reads(self, user: str, account: str) -> None:
        """Every read, by the person, marketing and an operator."""
        self.call("GET", "/health")
        self.call("GET", "/openapi.json")
        self.call("GET", "/users/{user_id}", user, user_id=user)
        self.call("GET", "/loyalty/{user_id}", user, user_id=user)
        self.call("GET", "/gdpr/consents/{user_id}", user, user_id=user)
        self.call("GET", "/crm/contacts/{user_id}", "marketer", ("marketing",), user_id=user)
        self.call("GET", "/accounts/{account_id}", user, account_id=account)
        at = "?at=2999-01-01T00:00:00Z"
        self.call("GET", "/accounts/{account_id}", user, query=at, account_id=account)
        self.call("GET", "/accounts/{account_id}", "operator", ("admin",), account_id=account)
        self.call("GET", "/accounts/{account_id}/events", user, account_id=account)
        month = datetime.now(UTC).strftime("%Y-%m")  # the account was opened this month
        self.call(
            "GET",
            "/accounts/{account_id}/statements/{month}",
            user,
            account_id=account,
            month=month,
        )
        self.call("GET", "/search", "operator", ("admin",), query=f"?subject={user}")

    def replay(self) -> None:
        """The replay state machine's steps (replay_worker) over the archived history.

        The ledger's events are archived first, as Firehose would (half in the
        earlier layout, half bucketed); then every step runs as the state machine
        invokes it, for the loyalty read model (it settles against the ledger).
        """
        bench, count, run = self.bench, REPLAY_BUCKETS, "audit-replay"
        settings = get_settings()
        # What the stream delivered, archived by Firehose (its calls are not a function's).
        with bench.counter.acting_as("firehose"):
            lines = sorted(EventLedger(aws.table("ledger")).scan_raw())
            half = len(lines) // 2
            s3 = aws.client("s3")
            s3.put_object(
                Bucket=settings.archive_bucket,
                Key="events/year=2026/month=01/day=01/audit-legacy",
                Body="\n".join(lines[:half]).encode(),
            )
            s3.put_object(
                Bucket=settings.archive_bucket,
                Key=f"events/buckets={count}/bucket=0/year=2026/month=01/day=02/audit",
                Body="\n".join(lines[half:]).encode(),
            )

        def step(**payload: Any) -> Any:
            with bench.counter.acting_as(resources.REPLAY.handler), own_process():
                invoked = bench.client.lambda_.invoke(resources.REPLAY.handler, payload)
            return invoked.payload

        common = {"projection": "loyalty", "count": count, "run": run}
        opened = step(step="open", **common)
        for bucket in opened["buckets"]:
            step(step="fold", bucket=bucket, **common)
        step(step="finish", opened=opened, **common)
        # A failed run closes its generation: the abandon step, on a second one.
        step(step="open", **common)
        step(step="abandon", **common)


class _RecordingHttp:
    """The OpenSearch transport's interface, recording each request (an empty result)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def request(self, method: str, path: str, **_: Any) -> Any:
        self.requests.append((method, path))
        return {"hits": {"total": {"value": 0}, "hits": []}}


def api_search_requests(domain_arn: str, alias: str) -> list[IamRequest]:
    """The OpenSearch requests of the API's search, as IAM authorises them (es:ESHttp<Method>)."""
    http = _RecordingHttp()
    OpenSearchIndex(http, alias).search(parse_search_query({"q": "x", "type": "t", "size": "5"}))  # type: ignore[arg-type]
    return [
        IamRequest(f"es:ESHttp{method.capitalize()}", f"{domain_arn}{path}")
        for method, path in http.requests
    ]


@contextmanager
def _sqlite_search() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="audit-iam-") as work:
        os.environ["SEARCH_BACKEND"] = "sqlite"
        os.environ["SEARCH_SQLITE_PATH"] = str(Path(work) / "search.sqlite3")
        yield


def _provisioned(env: Mapping[str, str], key_arn: Any) -> dict[str, Any]:
    """The ARNs of what the flows ran against (the IAM policies are rendered for these)."""
    sqs, kinesis = aws.client("sqs"), aws.client("kinesis")

    def queue_arn(name: str) -> str:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    stream = kinesis.describe_stream_summary(StreamName=env[resources.EVENT_STREAM.env_var])
    pool_id = env.get(resources.USER_POOL.pool_id_env_var, "")
    return {
        "table_arns": {t.key: aws.table(t.key).table_arn for t in resources.TABLES},
        "queue_arns": {q.key: queue_arn(env[q.env_var]) for q in resources.QUEUES},
        "topic_arn": env["USER_EVENTS_TOPIC_ARN"],
        "event_stream_arn": stream["StreamDescriptionSummary"]["StreamARN"],
        "stream_failure_queue_arn": queue_arn(env[resources.STREAM_FAILURE_QUEUE_ENV_VAR]),
        "search_redaction_queue_arn": queue_arn(env[resources.SEARCH_LATE_REDACTION.env_var]),
        "personal_data_kms_key_arn": key_arn(env[resources.PERSONAL_DATA_KEY_ENV_VAR]),
        "email_sender": env.get(resources.EMAIL_SENDER_ENV_VAR, ""),
        "user_pool_arn": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{pool_id}",
        "archive_bucket_arn": f"arn:aws:s3:::{env[resources.ARCHIVE_DELIVERY.bucket_env_var]}",
    }


def record() -> dict[str, Any]:
    """Run the flows; what IAM must allow each function, and the routes exercised."""
    with (
        mock.patch.object(account_service, "SNAPSHOT_EVERY", SNAPSHOT_EVERY),
        _sqlite_search(),
        in_process_platform() as (app, client, signer, env),
    ):
        ensure_alias(SqliteSearchIndex(os.environ["SEARCH_SQLITE_PATH"], "events"))
        bench = Bench(app, client, signer, env)
        counted = aws.client

        def client_counted(service: str) -> Any:
            # Whatever service a function reaches through chalicelib.adapters.aws is recorded.
            made = counted(service)
            bench.counter.attach(made)
            return made

        aws.client = client_counted  # type: ignore[assignment]
        kms = counted("kms")
        flows = Flows(bench)
        flows.person()
        flows.replay()
        calls = bench.counter.calls()

        def key_arn(key_id: str) -> str:
            return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])

        functions: dict[str, set[IamRequest]] = defaultdict(set)
        for call in calls:
            if call.caller.startswith(("esm:", "firehose", "sns")) or ":" not in call.operation:
                continue  # the managed services' own work, added as billed
            if call.operation.startswith(("lambda:", "apigateway:")):
                continue
            caller = API_HANDLER if call.caller == "api" else call.caller
            functions[caller].update(
                iam_requests(
                    call.operation, call.params, call.response, REGION, ACCOUNT_ID, key_arn
                )
            )
        routes = sorted(f"{m} {r}" for m, r in flows.routes)
        provisioned = _provisioned(env, key_arn)
        handlers = sorted({*functions, *(s.name for s in app.event_sources)})
    return {
        "region": REGION,
        "account_id": ACCOUNT_ID,
        "resources": provisioned,
        "routes": routes,
        "functions": {
            h: [
                {"action": r.action, "resource": r.resource, "context": dict(r.context)}
                for r in sorted(functions.get(h, set()), key=lambda r: (r.action, r.resource))
            ]
            for h in handlers
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print(json.dumps(record(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
