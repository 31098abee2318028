"""Batch APIs that fail per entry: only the failed entries are sent again, none is lost.

Fakes of Kinesis PutRecords and SNS PublishBatch answer 200 while failing
the entries a test names, the way AWS reports throttling
(``FailedRecordCount`` / ``Failed``). An SQS consumer reports its failed
messages in ``batchItemFailures`` instead: Lambda deletes the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.adapters.batching import BatchLimits, chunks, send_batches
from chalicelib.domain.events import (
    AccountDeposited,
    CloudEvent,
    UserCreated,
    new_event,
    parse_event,
)
from chalicelib.entrypoints.sqs_batch import SqsBatchProcessor
from chalicelib.service.fanout import UserEventFanout
from chalicelib.service.relay import LedgerRelay

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:evp-loyalty"


class FailingEntries:
    """Fails an entry (by key) on its first ``times`` sends; records every call."""

    def __init__(self, failing: Mapping[str, int]) -> None:
        self.remaining = dict(failing)
        self.calls: list[list[str]] = []

    def fails(self, key: str) -> bool:
        if self.remaining.get(key, 0) > 0:
            self.remaining[key] -= 1
            return True
        return False

    def delivered(self) -> list[str]:
        """Keys of the entries that went through, in the order they did."""
        return [key for call in self.calls for key in call]


class FakeKinesis(FailingEntries):
    def __init__(self, failing: Mapping[str, int]) -> None:
        super().__init__(failing)
        self.stored: list[tuple[str, bytes]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        self.calls.append([r["Data"].decode() for r in Records])
        for record in Records:
            if self.fails(record["Data"].decode()):
                results.append({"ErrorCode": "ProvisionedThroughputExceededException"})
            else:
                self.stored.append((record["PartitionKey"], record["Data"]))
                results.append({"SequenceNumber": str(len(self.stored)), "ShardId": "0"})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedRecordCount": failed, "Records": results}


class FakeSns(FailingEntries):
    def __init__(self, failing: Mapping[str, int]) -> None:
        super().__init__(failing)
        self.published: list[str] = []

    def publish_batch(
        self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        assert len(PublishBatchRequestEntries) <= 10
        successful, failed = [], []
        self.calls.append([parse_event(e["Message"]).id for e in PublishBatchRequestEntries])
        for entry in PublishBatchRequestEntries:
            event_id = parse_event(entry["Message"]).id
            if self.fails(event_id):
                failed.append({"Id": entry["Id"], "Code": "Throttled", "SenderFault": False})
            else:
                self.published.append(event_id)
                successful.append({"Id": entry["Id"], "MessageId": event_id})
        return {"Successful": successful, "Failed": failed}


def _no_sleep(seconds: float) -> None:
    """Backoff without waiting (the tests count calls, not seconds)."""


def _user_event(user: str, version: int = 1) -> CloudEvent:
    data = UserCreated(
        user_id=user,
        name="Grace",
        lastname="Hopper",
        email=f"{user}@example.com",
        address="Arlington",
        loyalty=True,
        marketing=True,
    )
    return new_event(data, subject=user, version=version)


def _deposit_event(account: str, version: int) -> CloudEvent:
    return new_event(
        AccountDeposited(account_id=account, amount="1.00"), subject=account, version=version
    )


# -- the relay: PutRecords ----------------------------------------------------


def test_relay_resends_only_the_failed_record_and_loses_none() -> None:
    # GIVEN five ledger events of two aggregates, the second put failing once
    records = [
        (key, f"{key}{n}".encode()) for key, n in [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)]
    ]
    kinesis = FakeKinesis({"a2": 1})
    # WHEN the relay forwards them
    forwarded = LedgerRelay(kinesis, "stream", sleep=_no_sleep).forward(records)
    # THEN one call carried all five, a second call only the failed one
    assert kinesis.calls == [["a1", "a2", "b1", "a3", "b2"], ["a2"]]
    # AND every record is on the stream exactly once
    assert forwarded == 5
    assert sorted(data for _, data in kinesis.stored) == sorted(data for _, data in records)


def test_relay_resends_failed_records_of_one_aggregate_in_their_order() -> None:
    # GIVEN three events of one aggregate, the first and the last failing once
    records = [("a", b"a1"), ("a", b"a2"), ("a", b"a3")]
    kinesis = FakeKinesis({"a1": 1, "a3": 1})
    # WHEN the relay forwards them
    LedgerRelay(kinesis, "stream", sleep=_no_sleep).forward(records)
    # THEN the retry carries both, still in version order
    assert kinesis.calls[1] == ["a1", "a3"]


def test_relay_fails_the_batch_when_a_record_never_makes_it() -> None:
    # GIVEN a record Kinesis refuses on every attempt
    kinesis = FakeKinesis({"a2": 99})
    relay = LedgerRelay(kinesis, "stream", sleep=_no_sleep)
    # WHEN the relay forwards it with others
    with pytest.raises(RuntimeError, match="1 record"):
        relay.forward([("a", b"a1"), ("a", b"a2")])
    # THEN it tried MAX_ATTEMPTS times, resending only that record
    assert kinesis.calls[1:] == [["a2"]] * (LedgerRelay.MAX_ATTEMPTS - 1)


def test_relay_splits_batches_at_500_records() -> None:
    # GIVEN 501 small records
    records = [("k", f"r{i}".encode()) for i in range(501)]
    kinesis = FakeKinesis({})
    # WHEN forwarded
    LedgerRelay(kinesis, "stream", sleep=_no_sleep).forward(records)
    # THEN two PutRecords calls, in order
    assert [len(call) for call in kinesis.calls] == [500, 1]
    assert kinesis.delivered() == [f"r{i}" for i in range(501)]


# -- the fan-out: PublishBatch ------------------------------------------------


def test_fanout_republishes_only_the_failed_entry() -> None:
    # GIVEN twelve user events and an account event, the fourth user event failing once
    users = [_user_event(f"u{i}") for i in range(12)]
    raw = [e.to_json() for e in users] + [_deposit_event("acc", 2).to_json()]
    sns = FakeSns({users[3].id: 1})
    # WHEN the fan-out publishes the batch
    published = UserEventFanout(sns, "topic", sleep=_no_sleep).publish(raw)
    # THEN two calls of at most ten carried every user event, a third only the failed one
    assert [len(call) for call in sns.calls] == [10, 2, 1]
    assert sns.calls[2] == [users[3].id]
    # AND each user event is published exactly once; the account event is not
    assert published == 12
    assert sorted(sns.published) == sorted(e.id for e in users)


def test_fanout_raises_when_an_entry_keeps_failing() -> None:
    # GIVEN an event SNS refuses on every attempt
    events = [_user_event("u1"), _user_event("u2")]
    sns = FakeSns({events[1].id: 99})
    # WHEN the fan-out publishes it
    with pytest.raises(RuntimeError, match="1 event"):
        UserEventFanout(sns, "topic", sleep=_no_sleep).publish([e.to_json() for e in events])
    # THEN the others were published once, and only the failing one was retried
    assert sns.published == [events[0].id]
    assert all(call == [events[1].id] for call in sns.calls[1:])


def test_fanout_keeps_each_publish_under_the_256_kib_limit() -> None:
    # GIVEN user events of about 100 KB each (a long address)
    events = [
        new_event(
            UserCreated(
                user_id=f"u{i}",
                name="Grace",
                lastname="Hopper",
                email=f"u{i}@example.com",
                address="x" * 100_000,
                loyalty=False,
                marketing=False,
            ),
            subject=f"u{i}",
            version=1,
        )
        for i in range(5)
    ]
    sns = FakeSns({})
    # WHEN published
    UserEventFanout(sns, "topic", sleep=_no_sleep).publish([e.to_json() for e in events])
    # THEN no call carried more than two of them, and all went out in order
    assert max(len(call) for call in sns.calls) == 2
    assert sns.delivered() == [e.id for e in events]


# -- the consumers: batchItemFailures (Powertools) ----------------------------


class _Consumer:
    """Applies events, failing the ones of ``poison`` users."""

    def __init__(self, poison: set[str]) -> None:
        self.poison = poison
        self.applied: list[str] = []

    def handle(self, event: CloudEvent) -> bool:
        if event.subject in self.poison:
            raise ValueError("poison")
        self.applied.append(event.subject)
        return True

    def position(self, user_id: str) -> dict[str, Any] | None:
        return None


def _sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{n}",
                "receiptHandle": f"r{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
            }
            for n, body in enumerate(bodies)
        ]
    }


def _bodies(*users: str) -> list[str]:
    return [_user_event(user).to_json().decode() for user in users]


def test_consumer_reports_only_the_failed_message_and_applies_the_rest_in_order() -> None:
    # GIVEN three messages, the second one poison
    consumer = _Consumer(poison={"u1"})
    # WHEN the batch is processed
    response = SqsBatchProcessor(consumer, "loyalty").process(
        _sqs_event(*_bodies("u0", "u1", "u2"))
    )
    # THEN only the poison message is reported (Lambda deletes the others)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    # AND the others were applied, in their order
    assert consumer.applied == ["u0", "u2"]


def test_a_message_that_is_not_an_event_is_reported_too() -> None:
    # GIVEN a batch holding a body that is no event between two good ones
    consumer = _Consumer(poison=set())
    bodies = _bodies("u0", "u2")
    # WHEN processed
    response = SqsBatchProcessor(consumer, "loyalty").process(
        _sqs_event(bodies[0], "{not json", bodies[1])
    )
    # THEN it alone is reported
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert consumer.applied == ["u0", "u2"]


def test_a_batch_that_fails_whole_is_reported_not_raised() -> None:
    # GIVEN a batch whose every message fails
    consumer = _Consumer(poison={"u0", "u1"})
    # WHEN processed
    response = SqsBatchProcessor(consumer, "loyalty").process(_sqs_event(*_bodies("u0", "u1")))
    # THEN every message is reported, and the invocation itself succeeds
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}


def test_a_batch_without_failures_reports_none() -> None:
    # GIVEN good messages, and an empty batch
    consumer = _Consumer(poison=set())
    processor = SqsBatchProcessor(consumer, "loyalty")
    # WHEN processed
    # THEN nothing is reported
    assert processor.process(_sqs_event(*_bodies("u0", "u1"))) == {"batchItemFailures": []}
    assert processor.process({"Records": []}) == {"batchItemFailures": []}
    assert consumer.applied == ["u0", "u1"]


# -- the shared helper --------------------------------------------------------


def test_chunks_keep_order_within_count_and_byte_limits() -> None:
    # GIVEN entries of 4 bytes, limits of 3 entries or 10 bytes
    entries = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
    # WHEN chunked
    out = list(chunks(entries, BatchLimits(max_entries=3, max_bytes=10), size=len))
    # THEN each chunk respects both limits and the order is kept
    assert out == [["aaaa", "bbbb"], ["cccc", "dddd"], ["eeee"]]


def test_send_batches_returns_what_never_succeeded() -> None:
    # GIVEN a sender that always fails entry "x"
    sent: list[list[str]] = []

    def send(chunk: list[str]) -> list[int]:
        sent.append(chunk)
        return [i for i, e in enumerate(chunk) if e == "x"]

    # WHEN sending with three attempts
    left = send_batches(["a", "x", "b"], send, BatchLimits(10), attempts=3, sleep=_no_sleep)
    # THEN "x" is handed back after being retried alone
    assert left == ["x"]
    assert sent == [["a", "x", "b"], ["x"], ["x"]]
