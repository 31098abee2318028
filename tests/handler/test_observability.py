"""Structured logs and EMF metrics: one registration through every handler.

Every handler logs JSON lines carrying the event's identifiers; none of them
may hold a personal field of the person registered.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters import observability
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from local_aws.token_signer import TokenSigner
from tests.handler.helpers import post_json, table_items, user_body
from tests.handler.test_event_pipeline import _ledger_stream_event, _stream_data

PHILIPPA = "philippa.q@example.org"
PERSON = user_body(
    name="Philippa",
    lastname="Quennell-Smythe",
    email=PHILIPPA,
    address="221B Baker Street, London",
    loyalty=True,
    consents={"marketing": True},
)
PERSONAL_VALUES = [PERSON[k] for k in ("name", "lastname", "email", "address")]
CONSUMERS = [
    ("loyalty_enrolment", "LOYALTY_QUEUE"),
    ("gdpr_consent_record", "GDPR_QUEUE"),
    ("crm_contact_sync", "CRM_QUEUE"),
]


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Everything the platform logs: its JSON logger and any other logger (root)."""
    caplog.set_level(logging.DEBUG)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(observability.logger.registered_formatter)
    platform_logger = logging.getLogger(observability.SERVICE)
    platform_logger.addHandler(handler)
    yield buffer
    platform_logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def philippas_identity(identity_pool: TokenSigner) -> None:
    """GIVEN the caller's identity has Philippa's email (a registration takes the identity's)."""
    identity_pool.set_email("ada", PHILIPPA)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _run_every_handler(client: Any, env: dict[str, str]) -> dict[str, Any]:
    user = post_json(client, "/users", PERSON).json_body
    client.lambda_.invoke("ledger_relay", _ledger_stream_event(env))
    records = _stream_data(env)
    kinesis_event = client.events.generate_kinesis_event(message_bodies=records)
    for handler in ("user_events_fanout", "projector", "search_erasure"):
        client.lambda_.invoke(handler, kinesis_event)
    firehose = {
        "invocationId": "inv-1",
        "records": [
            {"recordId": str(i), "data": base64.b64encode(r).decode()}
            for i, r in enumerate(records)
        ],
    }
    client.lambda_.invoke("search_transform", firehose)
    for handler, queue_var in CONSUMERS:
        sqs_event = client.events.generate_sqs_event(
            message_bodies=[r.decode() for r in records], queue_name=env[queue_var]
        )
        client.lambda_.invoke(handler, sqs_event)
    (created,) = [
        json.loads(i["event"])
        for i in table_items(env["LEDGER_TABLE"])
        if i["aggregate_id"] == user["id"]
    ]
    return dict(created)


def test_no_log_line_holds_personal_data(
    client: Any,
    aws_env: dict[str, str],
    sqlite_search_index: SqliteSearchIndex,
    log_lines: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a registration fed through the API and every handler
    created = _run_every_handler(client, aws_env)
    # WHEN we read everything that was logged or printed
    logged = log_lines.getvalue()
    everything = logged + caplog.text + capsys.readouterr().out
    # THEN the event's id finds a line from every handler that saw it ...
    about_it = [line for line in _json_lines(logged) if line.get("event_id") == created["id"]]
    assert {line["consumer"] for line in about_it} == {
        "ledger_relay",
        "user_events_fanout",
        "projector",
        "search_erasure",
        "search_transform",
        "loyalty",
        "gdpr",
        "crm",
    }
    for line in about_it:
        assert line["event_type"] == "com.example.user.created"
        assert line["subject"] == created["subject"]
        assert line["aggregateversion"] == 1
        assert isinstance(line["duration_ms"], float)
    assert {line["outcome"] for line in about_it} >= {"relayed", "published", "applied"}
    # ... the API logged the request, with who made it ...
    requests = [line for line in _json_lines(logged) if line["message"] == "request"]
    assert [(r["route"], r["status"]) for r in requests] == [("/users", 201)]
    assert requests[0]["request_id"]
    assert requests[0]["caller_sub"] == created["subject"]
    # ... and no line anywhere holds the person's name, last name, email or address
    assert logged
    for value in PERSONAL_VALUES:
        assert value not in everything


def test_metrics_are_emitted_as_emf(
    client: Any,
    aws_env: dict[str, str],
    sqlite_search_index: SqliteSearchIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a registration fed through every handler
    _run_every_handler(client, aws_env)
    # WHEN we read the EMF lines printed on stdout
    emf = [line for line in _json_lines(capsys.readouterr().out) if "_aws" in line]
    # THEN each is in the platform's namespace, and the counts are there
    namespaces = {m["Namespace"] for line in emf for m in line["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {observability.NAMESPACE}

    def values(metric: str, **dimensions: str) -> list[float]:
        found: list[float] = []
        for line in emf:
            if metric in line and all(line.get(k) == v for k, v in dimensions.items()):
                found += line[metric]
        return found

    assert values("EventsAppended", type="com.example.user.created") == [1.0]
    assert values("RelayBatchSize", consumer="ledger_relay") == [1.0]
    assert values("FanoutPublished", consumer="user_events_fanout") == [1.0]
    for consumer in ("loyalty", "gdpr", "crm"):
        assert values("ConsumerApplied", consumer=consumer) == [1.0]
    (lag,) = values("ProjectorLag", consumer="projector")
    assert lag >= 0
