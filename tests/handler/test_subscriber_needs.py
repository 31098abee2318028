"""A subscriber gets only what its declared needs grant, on moto and the local stack alike.

In AWS a subscriber's IAM policy follows from its needs (infra/modules/iam);
the context its consumer is built from (roots.subscribers.SubscriberResources,
the same code on the local stack) enforces the same declaration, so a wrong
one fails in tests and locally, not first as an IAM denial in production.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib import resources
from chalicelib.adapters.subscriber_context import NEEDED_FOR, SubscriberContext, UndeclaredNeed
from chalicelib.entrypoints.roots.subscribers import SubscriberResources, consume_user_events
from chalicelib.resources import Need, Subscriber
from tests.handler.helpers import ledger_events, register, table_items


def _declare(monkeypatch: pytest.MonkeyPatch, subscriber: Subscriber) -> None:
    monkeypatch.setattr(resources, "SUBSCRIBERS", (*resources.SUBSCRIBERS, subscriber))


def _audit_subscriber(needs: frozenset[Need]) -> Subscriber:
    """A new subscriber declared as the README says, keeping a consent register of its own."""
    gdpr = resources.subscriber("gdpr")
    return replace(
        gdpr,
        handler="consent_audit",
        # fills version gaps from the ledger
        consumer="chalicelib.service.consumers:GdprConsentRecord",
        queue=replace(gdpr.queue, key="audit"),
        needs=needs,
    )


def _sqs_record(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": json.dumps(event),
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:evp-gdpr-consents",
    }


def test_a_subscriber_reading_the_ledger_without_declaring_it_fails(
    client: Any, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a new subscriber declared with no needs, whose consumer reads the ledger
    _declare(monkeypatch, _audit_subscriber(frozenset()))
    user = register(client)
    created = ledger_events(aws_env, user["id"])[0]
    before = table_items(aws_env["GDPR_CONSENTS_TABLE"])
    # WHEN a batch of its queue is consumed
    with pytest.raises(UndeclaredNeed) as refused:
        consume_user_events("audit", {"Records": [_sqs_record(created)]})
    # THEN the invocation fails naming the need to declare, and nothing was written
    assert "Need.READ_LEDGER" in str(refused.value)
    assert "audit" in str(refused.value)
    assert table_items(aws_env["GDPR_CONSENTS_TABLE"]) == before


def test_the_same_subscriber_declaring_the_need_consumes_the_batch(
    client: Any, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the same subscriber, now declaring READ_LEDGER
    _declare(monkeypatch, _audit_subscriber(frozenset({Need.READ_LEDGER})))
    user = register(client)
    created = ledger_events(aws_env, user["id"])[0]
    # WHEN a batch of its queue is consumed
    response = consume_user_events("audit", {"Records": [_sqs_record(created)]})
    # THEN the event is applied to its table, and no message failed
    assert response == {"batchItemFailures": []}
    (item,) = [i for i in table_items(aws_env["GDPR_CONSENTS_TABLE"]) if i["user_id"] == user["id"]]
    assert item["version"] == 1


@pytest.mark.parametrize("subscriber", resources.SUBSCRIBERS, ids=lambda s: s.key)
def test_every_declared_subscriber_gets_exactly_what_its_needs_grant(
    subscriber: Subscriber, aws_env: dict[str, str]
) -> None:
    # GIVEN a declared subscriber's context
    context = SubscriberResources(subscriber.key)
    for attribute, need in NEEDED_FOR.items():
        # WHEN it reaches each resource a need guards
        # THEN it gets those its needs grant, and UndeclaredNeed for the others
        if need in subscriber.needs:
            assert getattr(context, attribute) is not None, attribute
        else:
            with pytest.raises(UndeclaredNeed):
                getattr(context, attribute)
    # AND its own table needs nothing
    assert context.table.name == aws_env[subscriber.table.env_var]


def test_every_resource_a_subscriber_can_be_given_is_guarded_by_a_need() -> None:
    # GIVEN what a subscriber context offers (chalicelib.adapters.subscriber_context)
    offered = {name for name in vars(SubscriberContext) if not name.startswith("_")}
    # THEN each but its own table is granted by a need, and every mapped one exists
    assert offered - {"table"} == set(NEEDED_FOR)
    assert set(NEEDED_FOR.values()) <= set(Need)
