"""Batch APIs that fail per entry: only the failed entries are sent again, none is lost.

Fakes of Kinesis PutRecords, SNS PublishBatch and SQS DeleteMessageBatch
answer 200 while failing the entries a test names, the way AWS reports
throttling (``FailedRecordCount`` / ``Failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.batching import BatchLimits, chunks, send_batches
from chalicelib.consumers import SqsBatchProcessor
from chalicelib.events import (
    AccountDeposited,
    CloudEvent,
    UserCreated,
    new_event,
    parse_event,
)
from chalicelib.exceptions import BatchItemFailures
from chalicelib.fanout import UserEventFanout
from chalicelib.relay import LedgerRelay

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


class FakeSqs(FailingEntries):
    def __init__(self, failing: Mapping[str, int]) -> None:
        super().__init__(failing)
        self.deleted: list[str] = []

    def get_queue_url(self, QueueName: str, QueueOwnerAWSAccountId: str) -> dict[str, str]:
        return {
            "QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/{QueueOwnerAWSAccountId}/{QueueName}"
        }

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        self.calls.append([e["ReceiptHandle"] for e in Entries])
        successful, failed = [], []
        for entry in Entries:
            if self.fails(entry["ReceiptHandle"]):
                failed.append({"Id": entry["Id"], "Code": "InternalError", "SenderFault": False})
            else:
                self.deleted.append(entry["ReceiptHandle"])
                successful.append({"Id": entry["Id"]})
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


# -- the consumers: DeleteMessageBatch ----------------------------------------


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


def _sqs_record(event: CloudEvent, n: int) -> dict[str, Any]:
    return {
        "messageId": f"m{n}",
        "receiptHandle": f"r{n}",
        "body": event.to_json().decode(),
        "eventSourceARN": QUEUE_ARN,
    }


def test_consumer_retries_a_failed_delete_and_reports_only_the_failed_message() -> None:
    # GIVEN three messages, the second poison, and the delete of the first failing once
    records = [_sqs_record(_user_event(f"u{n}"), n) for n in range(3)]
    sqs = FakeSqs({"r0": 1})
    consumer = _Consumer(poison={"u1"})
    processor = SqsBatchProcessor(sqs, consumer, "loyalty", sleep=_no_sleep)
    # WHEN the batch is processed
    with pytest.raises(BatchItemFailures) as failure:
        processor.process(records)
    # THEN only the poison message is reported, and it is never deleted
    assert failure.value.failed_ids == ["m1"]
    assert "r1" not in sqs.deleted
    # AND both successes are deleted, the first one by a retry of it alone
    assert sorted(sqs.deleted) == ["r0", "r2"]
    assert sqs.calls == [["r0", "r2"], ["r0"]]


def test_consumer_deletes_successes_ten_at_a_time() -> None:
    # GIVEN 23 good messages and one poison
    records = [_sqs_record(_user_event(f"u{n}"), n) for n in range(24)]
    sqs = FakeSqs({})
    processor = SqsBatchProcessor(sqs, _Consumer(poison={"u23"}), "loyalty", sleep=_no_sleep)
    # WHEN processed
    with pytest.raises(BatchItemFailures):
        processor.process(records)
    # THEN the 23 successes went in three DeleteMessageBatch calls
    assert [len(call) for call in sqs.calls] == [10, 10, 3]


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
