"""End to end: an erased person leaves no clear-text byte anywhere in the local stack."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def operator(auth_headers: AuthHeaders) -> dict[str, str]:
    """An operator's headers: reads anyone's data, and searches."""
    return auth_headers("gdpr-e2e-operator", "admin")


def _get(headers: dict[str, str], stack: LocalStackProcess, path: str) -> requests.Response:
    return requests.get(f"{stack.api_url}{path}", headers=headers, timeout=30)


def _register(
    stack: LocalStackProcess, headers: dict[str, str], lastname: str, email: str
) -> dict[str, Any]:
    response = requests.post(
        f"{stack.api_url}/users",
        headers=headers,
        timeout=30,
        json={
            "name": "Erin",
            "lastname": lastname,
            "email": email,
            "address": "7 Shred Street",
            "loyalty": True,
            "consents": {"marketing": True},
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _search(headers: dict[str, str], stack: LocalStackProcess, **params: str) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/search", params=params, headers=headers, timeout=30)
    return dict(response.json())


def _s3_bytes(stack: LocalStackProcess) -> dict[str, bytes]:
    """Every version of every object in the local stack's buckets, by where it is."""
    found: dict[str, bytes] = {}
    s3 = stack.client("s3")
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(
                    Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
                )["Body"].read()
                found[f"s3:{bucket}/{version['Key']}@{version['VersionId']}"] = body
    return found


def _stored_bytes(stack: LocalStackProcess) -> dict[str, bytes]:
    """Every byte the local stack stores, by where it is."""
    found: dict[str, bytes] = {}
    dynamodb = stack.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        pages = dynamodb.get_paginator("scan").paginate(TableName=table)
        found[f"dynamodb:{table}"] = repr([page["Items"] for page in pages]).encode()
    found.update(_s3_bytes(stack))
    kinesis = stack.client("kinesis")
    for stream in kinesis.list_streams()["StreamNames"]:
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records = kinesis.get_records(ShardIterator=iterator, Limit=10000)["Records"]
            found[f"kinesis:{stream}/{shard['ShardId']}"] = b"".join(r["Data"] for r in records)
    sqs = stack.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        found[f"sqs:{url}"] = repr(messages.get("Messages", [])).encode()
    for path in stack.log_path.parent.glob("search.sqlite3*"):
        found[f"file:{path.name}"] = path.read_bytes()
    return found


def _containing(stored: dict[str, bytes], needles: list[str]) -> list[str]:
    lowered = [n.lower().encode() for n in needles]
    return [where for where, data in stored.items() if any(n in data.lower() for n in lowered)]


def test_erasure_leaves_no_personal_data_in_clear_text(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders, operator: dict[str, str]
) -> None:
    # GIVEN a person who registered, bought something and became searchable by name,
    # and another person who is not erased
    token = uuid.uuid4().hex[:10]
    lastname, email = f"Shred{token}", f"erin.{token}@example.com"
    person = auth_headers(email)
    user = _register(local_stack, person, lastname, email)
    keep = f"keep.{token}@example.com"
    other = _register(local_stack, auth_headers(keep), f"Keep{token}", keep)
    requests.post(
        f"{local_stack.api_url}/users/{user['id']}/purchases",
        headers=person,
        timeout=30,
        json={"order_id": f"o-{token}", "amount": "250.00", "currency": "EUR"},
    )
    wait_for(lambda: _search(operator, local_stack, q=lastname)["total"] == 1, timeout=30)
    wait_for(
        lambda: _get(operator, local_stack, f"/crm/contacts/{user['id']}").ok,
        timeout=30,
    )
    points_before = wait_for(
        lambda: _get(operator, local_stack, f"/loyalty/{user['id']}").json()["points"],
        timeout=30,
    )
    # (the scan sees clear text where it exists: the search index holds the opened name)
    assert any(
        w.startswith("file:search") for w in _containing(_stored_bytes(local_stack), [lastname])
    )
    # WHEN the person is erased
    response = requests.post(
        f"{local_stack.api_url}/gdpr/erasure/{user['id']}", headers=person, timeout=30
    )
    assert response.status_code == 202
    # THEN the consumers and the index react
    wait_for(
        lambda: _get(operator, local_stack, f"/crm/contacts/{user['id']}").status_code == 404,
        timeout=30,
    )
    wait_for(lambda: _search(operator, local_stack, q=lastname)["total"] == 0, timeout=30)
    erased_docs = _search(operator, local_stack, subject=user["id"])["events"]
    assert erased_docs and all(
        e["data"].get("lastname", "[erased]") == "[erased]" for e in erased_docs
    )
    fetched = _get(operator, local_stack, f"/users/{user['id']}").json()
    assert (fetched["email"], fetched["lastname"]) == ("[erased]", "[erased]")
    loyalty = _get(operator, local_stack, f"/loyalty/{user['id']}").json()
    assert loyalty["points"] == points_before
    # AND once the archive has the erasure too, no stored byte holds the email or name
    wait_for(
        lambda: any(
            b"com.example.user.erased" in data and user["id"].encode() in data
            for data in _s3_bytes(local_stack).values()
        ),
        timeout=30,
    )
    stored = _stored_bytes(local_stack)
    assert _containing(stored, [email, lastname]) == []
    # AND the other person is untouched
    assert _search(operator, local_stack, q=f"Keep{token}")["total"] == 1
    assert _get(operator, local_stack, f"/users/{other['id']}").json()["lastname"] == f"Keep{token}"
    # AND a replay of the archive after the erasure still succeeds with the same points
    replay = local_stack.run_script(
        "replay.py", "--projection", "loyalty", "--source", "archive", "--dry-run"
    )
    assert json.loads(replay.stdout.strip().splitlines()[-1])["events_read"] > 0
