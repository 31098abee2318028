"""End to end: a registered person gets exactly one welcome email; an erased one gets none."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.conftest import AuthHeaders
from tests.e2e.stack_reads import sent_to, welcome_outcome, welcome_queue_drained

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _register(stack: LocalStackProcess, headers: dict[str, str], email: str) -> str:
    response = requests.post(
        f"{stack.api_url}/users",
        timeout=30,
        headers=headers,
        json={
            "name": "Wendy",
            "lastname": "Welcome",
            "email": email,
            "address": "1 Inbox Lane",
            "loyalty": False,
            "consents": {"marketing": False},
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])





def test_a_registered_user_gets_exactly_one_welcome_email(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN a person who registers over HTTP
    email = f"welcome.{uuid.uuid4().hex[:10]}@example.com"
    user_id = _register(local_stack, auth_headers(email), email)
    # WHEN the welcome subscriber has handled their user.created and its queue is empty
    assert wait_for(lambda: welcome_outcome(local_stack, user_id), timeout=60) == "sent"
    wait_for(lambda: welcome_queue_drained(local_stack), timeout=60)
    # THEN SES sent them exactly one email, greeting them by name
    (message,) = sent_to(local_stack, email)
    assert message["subject"] == "Welcome to Example"
    assert "Hello Wendy," in message["body"]


def test_an_erased_user_gets_no_welcome_email(
    local_stack: LocalStackProcess, auth_headers: AuthHeaders
) -> None:
    # GIVEN a person who registers and is erased at once, while the welcome subscriber is
    # held by the stack's fault switch (chalicelib/adapters/faults.py): on a loaded machine the
    # user.created could otherwise reach it before the erasure, and a person not yet
    # erased rightly gets their email. A held delivery returns to the queue and is retried.
    switch = local_stack.state_dir / "faults.json"
    switch.write_text(json.dumps({"welcome": "held until the erasure (test)"}))
    try:
        email = f"erased.{uuid.uuid4().hex[:10]}@example.com"
        headers = auth_headers(email)
        user_id = _register(local_stack, headers, email)
        erased = requests.post(
            f"{local_stack.api_url}/gdpr/erasure/{user_id}", timeout=30, headers=headers, json={}
        )
        assert erased.status_code == 202, erased.text
    finally:
        switch.unlink(missing_ok=True)
    # WHEN the welcome subscriber has handled their user.created
    outcome = wait_for(lambda: welcome_outcome(local_stack, user_id), timeout=60)
    wait_for(lambda: welcome_queue_drained(local_stack), timeout=60)
    # THEN it found the person erased and SES sent them nothing
    assert outcome == "erased"
    assert sent_to(local_stack, email) == []
