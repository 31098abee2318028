"""What the e2e tests read from the local stack's emulated AWS, beside its HTTP API."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import requests

from local_aws.stack_process import LocalStackProcess

__all__ = [
    "archive_lines",
    "archived",
    "loyalty_item",
    "sent_to",
    "welcome_outcome",
    "welcome_queue_drained",
]


def sent_to(stack: LocalStackProcess, email: str) -> list[dict[str, Any]]:
    """What moto's SES recorded as sent to ``email`` (its /moto-api/data.json)."""
    data = requests.get(f"{stack.aws_url}/moto-api/data.json", timeout=30).json()
    messages = data.get("ses", {}).get("Message", [])
    return [m for m in messages if email in m["destinations"].get("ToAddresses", [])]


def welcome_outcome(stack: LocalStackProcess, user_id: str) -> str | None:
    """The welcome subscriber's recorded outcome for the user, once it has one."""
    items = stack.client("dynamodb").query(
        TableName=stack.name("welcome-emails"),
        KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": user_id}},
        ConsistentRead=True,
    )["Items"]
    statuses = [i["status"]["S"] for i in items if i["status"]["S"] != "sending"]
    return statuses[0] if statuses else None


def welcome_queue_drained(stack: LocalStackProcess) -> bool:
    """Whether the welcome subscriber's queue holds no message, visible or in flight."""
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.name("welcome-email"))["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(v) == 0 for v in attrs.values())


def archive_lines(stack: LocalStackProcess) -> Iterator[bytes]:
    """Every line of every object Firehose delivered to the archive."""
    s3 = stack.client("s3")
    bucket = stack.name("archive")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            yield from (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).splitlines()


def archived(stack: LocalStackProcess) -> set[tuple[str, int]]:
    """The (subject, aggregateversion) of every event in the archive."""
    seen = set()
    for line in archive_lines(stack):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # blank, or a poison record another test put on the stream
        seen.add((event["subject"], event["aggregateversion"]))
    return seen


def loyalty_item(stack: LocalStackProcess, table: str, user_id: str) -> dict[str, Any]:
    """The user's loyalty item in ``table`` (a read-model table), or {}."""
    item = (
        stack.client("dynamodb")
        .get_item(TableName=table, Key={"pk": {"S": f"loyalty#{user_id}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item or {}
