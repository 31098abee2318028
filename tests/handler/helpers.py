"""Test helpers: JSON requests and reading what landed in moto."""

from __future__ import annotations

import json
from typing import Any

import boto3


def post_json(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post(
        path, headers={"Content-Type": "application/json", **(headers or {})}, body=payload
    )


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


def user_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ada",
        "lastname": "Lovelace",
        "email": "ada@example.com",
        "address": "12 St James's Square, London",
        "loyalty": True,
        "consents": {"marketing": True},
    }
    body.update(overrides)
    return body
