"""The log and metric helpers: identifiers only, safe reasons, one EMF line per batch."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.adapters import observability
from chalicelib.adapters.observability import BatchObserver, Outcome, event_fields, safe_reason
from chalicelib.domain.exceptions import InjectedFault, OutOfOrderEvent


def test_event_fields_keep_identifiers_and_drop_data() -> None:
    raw = json.dumps(
        {
            "id": "e-1",
            "type": "com.example.user.created",
            "subject": "u-1",
            "aggregateversion": 3,
            "data": {"email": "someone@example.com"},
        }
    )
    assert event_fields(raw) == {
        "event_id": "e-1",
        "event_type": "com.example.user.created",
        "subject": "u-1",
        "aggregateversion": 3,
    }


@pytest.mark.parametrize("raw", [b"{oops", b"[1, 2]", b"null", "42"])
def test_event_fields_of_garbage_are_empty(raw: bytes | str) -> None:
    assert set(event_fields(raw).values()) == {None}


def test_reasons_never_carry_messages_that_may_hold_input() -> None:
    class Person(BaseModel):
        age: int

    with pytest.raises(ValidationError) as caught:
        Person.model_validate({"age": "someone@example.com"})
    # A validation error echoes its input: only its class is logged
    assert safe_reason(caught.value) == "ValidationError"
    # The platform's identifier-only messages are kept
    assert safe_reason(OutOfOrderEvent("t u-1 v3 before v2")) == (
        "OutOfOrderEvent: t u-1 v3 before v2"
    )
    assert "drill" in safe_reason(InjectedFault("gdpr: drill"))


def test_a_batch_flushes_its_outcome_counts_as_one_emf_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a batch with an applied, a duplicate and a gap
    observer = BatchObserver("gdpr")
    for outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
        with observer.event(b'{"id": "e"}') as slot:
            slot["outcome"] = outcome
    with pytest.raises(OutOfOrderEvent), observer.event(b'{"id": "g"}'):
        raise OutOfOrderEvent("gap")
    # WHEN it flushes
    observer.flush()
    # THEN one EMF line in the namespace counts each outcome for the consumer
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == observability.NAMESPACE
    assert (emf["consumer"], emf["ConsumerApplied"], emf["ConsumerDuplicate"]) == (
        "gdpr",
        [1.0],
        [1.0],
    )
    assert emf["ConsumerGapRetry"] == [1.0]
