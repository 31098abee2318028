"""End to end: accounts under concurrency, the archive, replay, a poison stream record."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.resources import ARCHIVE_DELIVERY
from local_aws.stack_process import LocalStackProcess, wait_for
from projections.archive_buckets import bucket_label, bucket_of
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def owner(local_stack: LocalStackProcess, auth_headers: AuthHeaders) -> dict[str, str]:
    """GIVEN a registered person (their headers): they own this module's accounts."""
    headers = auth_headers("accounts-e2e-owner")
    body = {
        "name": "Owen",
        "lastname": "Accounts",
        "email": "accounts-e2e-owner@example.com",
        "address": "1 Ledger Lane",
    }
    assert _post(headers, local_stack, "/users", body).status_code == 201
    return headers


def _post(
    headers: dict[str, str], stack: LocalStackProcess, path: str, body: dict[str, Any]
) -> requests.Response:
    return requests.post(f"{stack.api_url}{path}", json=body, headers=headers, timeout=30)


def _get(headers: dict[str, str], stack: LocalStackProcess, path: str) -> requests.Response:
    return requests.get(f"{stack.api_url}{path}", headers=headers, timeout=30)


def _open_account(headers: dict[str, str], stack: LocalStackProcess, deposit: str) -> str:
    account = _post(headers, stack, "/accounts", {"currency": "EUR"}).json()
    deposited = _post(headers, stack, f"/accounts/{account['id']}/deposits", {"amount": deposit})
    assert deposited.status_code == 201
    return str(account["id"])


def _archived_events(stack: LocalStackProcess) -> list[dict[str, Any]]:
    s3 = stack.client("s3")
    bucket = stack.name("archive")
    events = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="events/").get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        events += [json.loads(line) for line in body.splitlines() if line.strip()]
    return events


def test_parallel_withdrawals_never_overdraw(
    local_stack: LocalStackProcess, owner: dict[str, str]
) -> None:
    # GIVEN an account with a balance of 100
    account_id = _open_account(owner, local_stack, "100")
    # WHEN 24 withdrawals of 10 race each other
    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(
            pool.map(
                lambda _: _post(
                    owner, local_stack, f"/accounts/{account_id}/withdrawals", {"amount": 10}
                ),
                range(24),
            )
        )
    codes = sorted(r.status_code for r in responses)
    # THEN exactly 10 succeed, the rest are insufficient_funds, balance 0, versions 1..12
    assert codes.count(201) == 10, codes
    assert all(r.json()["error"] == "insufficient_funds" for r in responses if r.status_code == 409)
    assert codes.count(409) == 14
    account = _get(owner, local_stack, f"/accounts/{account_id}").json()
    assert (account["balance"], account["version"]) == ("0.00", 12)
    events = _get(owner, local_stack, f"/accounts/{account_id}/events")
    assert [e["aggregateversion"] for e in events.json()["events"]] == list(range(1, 13))


def test_archive_holds_every_event_once_per_line(
    local_stack: LocalStackProcess, owner: dict[str, str]
) -> None:
    # GIVEN an account with a few movements
    account_id = _open_account(owner, local_stack, "20")
    _post(owner, local_stack, f"/accounts/{account_id}/withdrawals", {"amount": "5.25"})

    # THEN Firehose's archive soon holds all three events as NDJSON, by subject bucket and date
    def archived() -> list[dict[str, Any]]:
        mine = [e for e in _archived_events(local_stack) if e["subject"] == account_id]
        return mine if len(mine) >= 3 else []

    mine = wait_for(archived, timeout=30)
    assert sorted(e["aggregateversion"] for e in mine) == [1, 2, 3]
    keys = [
        o["Key"]
        for o in local_stack.client("s3").list_objects_v2(
            Bucket=local_stack.name("archive"), Prefix="events/"
        )["Contents"]
    ]
    count = ARCHIVE_DELIVERY.bucket_count
    label = bucket_label(bucket_of(account_id, count), count)
    assert all(
        k.startswith(f"events/buckets={count}/bucket=") and "/year=" in k and "/day=" in k
        for k in keys
    )
    assert any(k.startswith(f"events/buckets={count}/bucket={label}/") for k in keys)


def _read_model(stack: LocalStackProcess, table: str, account_id: str) -> dict[str, Any] | None:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=table, Key={"pk": {"S": f"account#{account_id}"}})
        .get("Item")
    )
    return item


def test_replay_from_archive_equals_the_live_read_model(
    local_stack: LocalStackProcess, owner: dict[str, str]
) -> None:
    # GIVEN accounts whose events are archived and projected live
    ids = [_open_account(owner, local_stack, str(10 + i)) for i in range(3)]
    _post(owner, local_stack, f"/accounts/{ids[0]}/withdrawals", {"amount": "3.50"})
    live_table = local_stack.name("read-models")

    def projected() -> bool:
        items = [_read_model(local_stack, live_table, i) for i in ids]
        return all(items) and items[0]["version"]["N"] == "3"  # type: ignore[index]

    wait_for(projected, timeout=30)
    wait_for(lambda: {e["subject"] for e in _archived_events(local_stack)} >= set(ids), 30)
    # WHEN the accounts projection is rebuilt from the archive into a new table
    fresh = local_stack.name("read-models-rebuild")
    result = local_stack.run_script(
        "replay.py", "--projection", "accounts", "--source", "archive", "--table", fresh
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # THEN the rebuilt accounts equal the live ones
    assert summary["events_read"] >= 7
    for account_id in ids:
        live = _read_model(local_stack, live_table, account_id)
        rebuilt = _read_model(local_stack, fresh, account_id)
        assert rebuilt == live


def test_poison_stream_record_goes_to_the_failure_queue(
    local_stack: LocalStackProcess, owner: dict[str, str]
) -> None:
    # GIVEN a record on the event stream that no consumer can parse
    kinesis = local_stack.client("kinesis")
    kinesis.put_record(
        StreamName=local_stack.name("events"), Data=b"{poison\n", PartitionKey="poison"
    )
    # WHEN a real command follows it
    account_id = _open_account(owner, local_stack, "1")
    # THEN the poison lands in the stream-failures queue and the stream moves on
    sqs = local_stack.client("sqs")
    url = sqs.get_queue_url(QueueName=local_stack.name("stream-failures"))["QueueUrl"]

    def failures() -> list[dict[str, Any]]:
        return list(
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                "Messages", []
            )
        )

    messages = wait_for(failures, timeout=60)
    assert any("KinesisBatchInfo" in json.loads(m["Body"]) for m in messages)
    wait_for(
        lambda: _read_model(local_stack, local_stack.name("read-models"), account_id), timeout=60
    )
