"""Test helpers: JSON requests as a caller and reading what landed in moto."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
from moto.core.botocore_stubber import BotocoreStubber

from local_aws import moto_patches


class _BearerHttp:
    """chalice.test's ``http`` client sending ``Authorization: Bearer <token>``."""

    def __init__(self, http: Any, token: str) -> None:
        self._http = http
        self._token = token

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = b""
    ) -> Any:
        return self._http.request(
            method,
            path,
            headers={"Authorization": f"Bearer {self._token}", **(headers or {})},
            body=body,
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


class ApiClient:
    """A chalice test client acting as the person ``sub`` (``.http`` carries the token)."""

    def __init__(self, client: Any, sub: str, token: str) -> None:
        self._client = client
        self.sub = sub
        self.token = token
        self.http = _BearerHttp(client.http, token)

    def __getattr__(self, name: str) -> Any:
        # lambda_ and events of the underlying client (event handlers need no token).
        return getattr(self._client, name)


def post_json(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post(
        path, headers={"Content-Type": "application/json", **(headers or {})}, body=payload
    )


def put_json(client: Any, path: str, body: Any) -> Any:
    payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.put(path, headers={"Content-Type": "application/json"}, body=payload)


def ledger_events(env: dict[str, str], aggregate_id: str) -> list[dict[str, Any]]:
    """An aggregate's CloudEvents in the ledger, in version order."""
    items = [i for i in table_items(env["LEDGER_TABLE"]) if i["aggregate_id"] == aggregate_id]
    return [json.loads(i["event"]) for i in sorted(items, key=lambda i: i["version"])]


def table_items(name: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(name)
    return list(table.scan()["Items"])


def queue_url(name: str) -> str:
    return str(boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def drain(name: str, visibility_timeout: int = 30) -> list[dict[str, Any]]:
    """Receive every visible message of a queue (without deleting)."""
    sqs = boto3.client("sqs")
    url = queue_url(name)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility_timeout,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages += [dict(m) for m in batch]


def register(client: Any, **overrides: Any) -> dict[str, Any]:
    """Register the client's person (their identity's email, ``<sub>@example.com``)."""
    response = post_json(client, "/users", user_body(**overrides))
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def user_body(**overrides: Any) -> dict[str, Any]:
    """A registration body; the email comes from the caller's identity, so there is none."""
    body: dict[str, Any] = {
        "name": "Ada",
        "lastname": "Lovelace",
        "address": "12 St James's Square, London",
        "loyalty": True,
        "consents": {"marketing": True},
    }
    body.update(overrides)
    return body


def sqs_failures(client: Any, handler: str, event: dict[str, Any]) -> list[str]:
    """Invoke the SQS ``handler`` as its event source mapping would; the ids it reports failed.

    Its mapping reports batch item failures: Lambda deletes every other message
    of the batch, and returns these to the queue.
    """
    response = client.lambda_.invoke(handler, event).payload
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def consume(client: Any, handler: str, event: dict[str, Any]) -> None:
    """Invoke the SQS ``handler``; every message must succeed."""
    failed = sqs_failures(client, handler, event)
    assert failed == [], f"{handler} reported failed messages: {failed}"


def moto_one_call_at_a_time(monkeypatch: Any) -> None:
    """In-process moto answers one AWS call at a time, as the local stack's moto server does.

    moto's backends are not thread-safe (tests/handler/test_moto_concurrency_gap.py):
    two SQS deletes at once can bring a deleted message back, in flight for its
    visibility timeout. local_aws.moto_server serialises the stack's calls; this
    does the same for a test whose threads call moto in-process.
    """
    lock = threading.Lock()
    answer = BotocoreStubber.__call__

    def one_at_a_time(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        with lock:
            return answer(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", one_at_a_time)


def apply_moto_patch(name: str, monkeypatch: Any) -> None:
    """Apply the ``local_aws.moto_patches`` patch ``name`` in-process, undone after the test."""
    patch = next(p for p in moto_patches.PATCHES if p.name == name)
    patch.apply(lambda owner, attr, value: monkeypatch.setattr(owner, attr, value, raising=False))
