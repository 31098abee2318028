"""End to end: an erasure between the search transform and the delivery leaves nothing to find.

The local Firehose transforms a registration when the stream's buffer
flushes (the moment it writes the archive object) and delivers it to the
index one buffer later, as AWS does. The erasure is made to fall in between.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CREATED = "com.example.user.created"
# After the archive object appears, the transform has run within this (it is the
# next call); the delivery follows one local buffer (2 s) after it.
TRANSFORM_SETTLE_SECONDS = 0.3
ATTEMPTS = 3


def _search(stack: LocalStackProcess, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/search", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _archived(stack: LocalStackProcess, needle: str) -> bool:
    """Whether an archive object holds ``needle`` (Firehose wrote the buffer holding it)."""
    s3 = stack.client("s3")
    bucket = stack.name("archive")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for obj in page.get("Contents", []):
            if needle.encode() in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read():
                return True
    return False


def _registered_then_erased_in_the_window(
    stack: LocalStackProcess, auth_headers: AuthHeaders, operator: dict[str, str]
) -> tuple[str, str, str] | None:
    """Register someone, erase them between transform and delivery; (id, email, lastname).

    None if the delivery beat the erasure (a loaded machine): the window was missed.
    """
    token = uuid.uuid4().hex[:10]
    email, lastname = f"wendy.{token}@example.com", f"Window{token}"
    person = auth_headers(email)
    response = requests.post(
        f"{stack.api_url}/users",
        headers=person,
        timeout=30,
        json={
            "name": "Wendy",
            "lastname": lastname,
            "email": email,
            "address": "1 Buffer Lane",
            "consents": {"marketing": False},
        },
    )
    assert response.status_code == 201, response.text
    user_id = str(response.json()["id"])
    wait_for(lambda: _archived(stack, user_id), timeout=30, interval=0.05)
    time.sleep(TRANSFORM_SETTLE_SECONDS)
    erased = requests.post(f"{stack.api_url}/gdpr/erasure/{user_id}", headers=person, timeout=30)
    assert erased.status_code == 202, erased.text
    delivered = _search(stack, operator, subject=user_id)["events"]
    if any(e["type"] == CREATED for e in delivered):
        return None
    return user_id, email, lastname


def test_an_erasure_between_transform_and_delivery_leaves_no_name_or_email(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN an operator, and a person whose registration the transform opened and
    # Firehose holds for delivery when the person is erased
    operator = auth_headers("window-e2e-operator", "admin")
    erased = None
    for _ in range(ATTEMPTS):
        erased = _registered_then_erased_in_the_window(local_stack, auth_headers, operator)
        if erased is not None:
            break
    assert erased is not None, f"the delivery beat the erasure {ATTEMPTS} times"
    user_id, email, lastname = erased

    # WHEN the delivery, and then the erasure's late redaction pass, have happened
    def registration() -> dict[str, Any] | None:
        events = _search(local_stack, operator, subject=user_id)["events"]
        created = [e for e in events if e["type"] == CREATED]
        redacted = created and created[0]["data"].get("email") == "[erased]"
        return created[0] if redacted else None

    try:
        document = wait_for(registration, timeout=30)
    except TimeoutError:
        document = None
    # THEN an admin's search shows the registration, with no name, lastname or email
    events = _search(local_stack, operator, subject=user_id)["events"]
    assert document is not None, f"still in clear text after the late pass: {events}"
    assert (document["data"]["name"], document["data"]["lastname"]) == ("[erased]", "[erased]")
    # AND no search finds the person by their name or email
    assert _search(local_stack, operator, q=lastname)["total"] == 0
    assert email not in str(events)
