"""Failure drills on the real local stack: fail, see it, fix, redrive, applied once.

The cause is the stack's fault switch (chalicelib/adapters/faults.py): a file the
handlers read, that this test writes and then removes, as an outage starts
and ends. Nothing in the handlers is mocked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, wait_for
from tests.e2e.api import pool_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _ops_output(stack: LocalStackProcess, *args: str) -> tuple[dict[str, Any], str]:
    port = str(urlparse(stack.aws_url).port)
    state = ["--state-dir", str(stack.log_path.parent)]
    out = stack.run_script("ops.py", "--aws-port", port, *state, *args, "--json").stdout
    return dict(json.loads(out.strip().splitlines()[-1])), out


def _ops(stack: LocalStackProcess, *args: str) -> dict[str, Any]:
    return _ops_output(stack, *args)[0]


def _depths(stack: LocalStackProcess) -> dict[str, int]:
    return {q["name"]: q["depth"] + q["in_flight"] for q in _ops(stack, "dlq")["queues"]}


def _counts(stack: LocalStackProcess, queue: str) -> tuple[int, int]:
    """Messages in ``queue`` as SQS counts them: (visible, in flight)."""
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _waiting_in(stack: LocalStackProcess, queue: str) -> dict[str, Any]:
    """``ops.py dlq``'s entry for ``queue``, once messages wait there.

    The wait asks SQS in this process; ``ops.py`` (a Python process) runs once it is over.
    """
    wait_for(lambda: _counts(stack, queue)[0], timeout=90)
    (found,) = [q for q in _ops(stack, "dlq")["queues"] if q["name"] == queue]
    return dict(found)


def _register(http: requests.Session, stack: LocalStackProcess, **flags: Any) -> dict[str, Any]:
    """A new person registers (as their own identity); the user, with ``headers`` to act as them."""
    email = f"drill-{uuid.uuid4().hex[:8]}@example.com"
    headers = {"Authorization": f"Bearer {pool_of(stack).token(email)}"}
    response = http.post(
        f"{stack.api_url}/users",
        json={"name": "Drill", "lastname": "Person", "email": email, "address": "1 Fault Lane"}
        | flags,
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "headers": headers}


def _lines_about(
    stack: LocalStackProcess, event_id: str, extra_output: str = ""
) -> list[dict[str, Any]]:
    lines = []
    for raw in (stack.log_path.read_text() + extra_output).splitlines():
        if raw.startswith("{") and event_id in raw:
            lines.append(json.loads(raw))
    return lines


def _applied_by(
    stack: LocalStackProcess, event_id: str, consumer: str, extra_output: str = ""
) -> int:
    """Lines saying ``consumer`` applied ``event_id``: in the stack log, or a redrive's output."""
    return sum(
        1
        for line in _lines_about(stack, event_id, extra_output)
        if line.get("consumer") == consumer and line.get("outcome") == "applied"
    )


@pytest.fixture
def fault_switch(local_stack: LocalStackProcess) -> Iterator[Path]:
    """The stack's fault switch file; always switched off after the test."""
    path = local_stack.log_path.parent / "faults.json"
    yield path
    path.unlink(missing_ok=True)


def _created_event_id(stack: LocalStackProcess, user_id: str) -> str:
    def find() -> str:
        for raw in stack.log_path.read_text().splitlines():
            if raw.startswith("{") and user_id in raw:
                line = json.loads(raw)
                if line.get("subject") == user_id and line.get("event_id"):
                    return str(line["event_id"])
        return ""

    return wait_for(find, timeout=30)


def test_a_failing_consumer_drains_to_its_dlq_and_redrive_applies_once(
    local_stack: LocalStackProcess, http: requests.Session, fault_switch: Path
) -> None:
    dlq = local_stack.name("gdpr-consents-dlq")
    assert _counts(local_stack, dlq) == (0, 0)
    # GIVEN the GDPR consumer failing (its store is "down")
    fault_switch.write_text(json.dumps({"gdpr": "consent store unavailable (drill)"}))
    user = _register(http, local_stack, loyalty=False, consents={"marketing": False})
    event_id = _created_event_id(local_stack, user["id"])
    # WHEN its retries are exhausted, THEN ops.py dlq shows the message and why
    status = _waiting_in(local_stack, dlq)
    assert status["depth"] == 1
    assert event_id in status["sample_reason"]
    assert status["oldest_age_seconds"] >= 0
    failures = [
        line
        for line in _lines_about(local_stack, event_id)
        if line.get("consumer") == "gdpr" and line.get("outcome") == "failed"
    ]
    assert failures and "consent store unavailable" in failures[0]["reason"]
    consents = f"{local_stack.api_url}/gdpr/consents/{user['id']}"
    assert http.get(consents, headers=user["headers"]).status_code == 404
    # WHEN the cause is fixed and the DLQ redriven
    fault_switch.unlink()
    redriven = _ops(local_stack, "redrive", dlq)
    # THEN the message went back (by SQS's move task, as in AWS), was applied exactly once,
    # and the DLQ is empty
    assert (redriven["moved"], redriven["source"]) == (1, local_stack.name("gdpr-consents"))
    assert redriven["method"] == "task"
    wait_for(
        lambda: http.get(consents, headers=user["headers"]).status_code == 200,
        timeout=60,
    )
    assert _ops(local_stack, "trace", event_id)["consumers"]["gdpr"]["applied"] is True
    assert _depths(local_stack)[dlq] == 0
    assert _applied_by(local_stack, event_id, "gdpr") == 1


def test_a_poison_stream_record_goes_to_stream_failures_and_redrive_applies_once(
    local_stack: LocalStackProcess, http: requests.Session, fault_switch: Path
) -> None:
    failures_queue = local_stack.name("stream-failures")
    assert _counts(local_stack, failures_queue) == (0, 0)
    # GIVEN the projector failing on every record it is given
    fault_switch.write_text(json.dumps({"projector": "read model store unavailable (drill)"}))
    user = _register(http, local_stack, loyalty=True, consents={"marketing": False})
    event_id = _created_event_id(local_stack, user["id"])
    # WHEN its retries are exhausted, THEN the shard moves on and the record waits in
    # stream-failures, shown by ops.py dlq with the projector's error
    status = _waiting_in(local_stack, failures_queue)
    assert "projector" in status["sample_reason"]
    assert _ops(local_stack, "trace", event_id)["consumers"]["projector"]["applied"] is False
    # WHEN the cause is fixed and stream-failures redriven
    fault_switch.unlink()
    redriven, output = _ops_output(local_stack, "redrive", failures_queue)
    # THEN the projector (re-invoked by the redrive) applied the event exactly once
    # and nothing is left waiting
    assert redriven["moved"] >= 1
    assert redriven["failed"] == 0
    traced = _ops(local_stack, "trace", event_id)
    assert traced["consumers"]["projector"] == {"version": 1, "applied": True, "subscribed": True}
    assert _applied_by(local_stack, event_id, "projector", output) == 1
    assert _depths(local_stack)[failures_queue] == 0


def test_metrics_reach_the_stack_log(
    local_stack: LocalStackProcess, http: requests.Session
) -> None:
    # GIVEN a registration that went through the pipeline
    user = _register(http, local_stack, loyalty=True, consents={"marketing": True})
    _created_event_id(local_stack, user["id"])

    # WHEN we read the stack's log, THEN the handlers' EMF metrics are there
    def metrics() -> set[str]:
        names: set[str] = set()
        for raw in local_stack.log_path.read_text().splitlines():
            if raw.startswith('{"_aws"'):
                blob = json.loads(raw)
                for directive in blob["_aws"]["CloudWatchMetrics"]:
                    assert directive["Namespace"] == "EventPlatform"
                    names |= {m["Name"] for m in directive["Metrics"]}
        return names

    wanted = {"RelayBatchSize", "FanoutPublished", "ConsumerApplied", "ProjectorLag"}
    wait_for(lambda: wanted <= metrics(), timeout=60)
