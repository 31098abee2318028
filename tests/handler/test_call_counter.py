"""The AWS call counter: billed units by each service's pricing rules, and attribution."""

from __future__ import annotations

import boto3
import pytest

from local_aws.call_counter import CallCounter, billed_units, item_size


def _put(size: int) -> dict[str, object]:
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": "x" * (size - 2)}}}}


def test_item_size_counts_attribute_names_and_values() -> None:
    # GIVEN an item with a string, a number and a map
    item = {"pk": {"S": "abc"}, "n": {"N": "1234"}, "m": {"M": {"k": {"BOOL": True}}}}
    # THEN names and values are summed (numbers: 1 byte per two digits + 1)
    assert item_size(item) == (2 + 3) + (1 + 3) + (1 + 3 + 1 + 1 + 1)


def test_a_transaction_costs_two_write_units_per_kb_and_item() -> None:
    # GIVEN a transaction of a 1.5 KB put, a small put and a condition check
    params = {
        "TransactItems": [
            _put(1536),
            _put(10),
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "k"}}}},
        ]
    }
    # THEN each item costs 2 WRU per started KB
    assert billed_units("dynamodb", "TransactWriteItems", params, {}) == {"dynamodb_wru": 8}


def test_reads_cost_a_unit_per_4_kb_and_half_when_eventually_consistent() -> None:
    # GIVEN a 5 KB item read
    parsed = {"Item": {"pk": {"S": "x" * 5000}}}
    # THEN a consistent read is 2 RRU, an eventually consistent one 1
    assert billed_units("dynamodb", "GetItem", {"ConsistentRead": True}, parsed) == {
        "dynamodb_rru": 2.0
    }
    assert billed_units("dynamodb", "GetItem", {}, parsed) == {"dynamodb_rru": 1.0}
    # AND a miss still costs a read
    assert billed_units("dynamodb", "GetItem", {}, {}) == {"dynamodb_rru": 0.5}


def test_kinesis_bills_25_kb_payload_units_per_record() -> None:
    # GIVEN a PutRecords of a 30 KB record and a 1 KB record
    records = [
        {"PartitionKey": "a", "Data": b"x" * 30_000},
        {"PartitionKey": "b", "Data": b"x" * 1000},
    ]
    # THEN 2 + 1 payload units
    assert billed_units("kinesis", "PutRecords", {"Records": records}, {}) == {
        "kinesis_put_payload_unit": 3
    }


def test_a_publish_batch_is_one_request_per_64_kb() -> None:
    # GIVEN ten 1 KB messages, then ten 10 KB messages
    small = [{"Message": "x" * 1000} for _ in range(10)]
    large = [{"Message": "x" * 10_000} for _ in range(10)]
    # THEN one request, then two (100 KB)
    assert billed_units("sns", "PublishBatch", {"PublishBatchRequestEntries": small}, {}) == {
        "sns_request": 1
    }
    assert billed_units("sns", "PublishBatch", {"PublishBatchRequestEntries": large}, {}) == {
        "sns_request": 2
    }


def test_an_email_is_billed_per_recipient() -> None:
    params = {"Destination": {"ToAddresses": ["a@x"], "CcAddresses": ["b@x"]}}
    assert billed_units("sesv2", "SendEmail", params, {}) == {"ses_email": 2}


@pytest.mark.usefixtures("session")
def test_the_counter_records_each_call_under_its_caller() -> None:
    # GIVEN a counter on a DynamoDB Table's client and an SQS client (in-process moto)
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    counter = CallCounter()
    counter.attach(table.meta.client)
    counter.attach(table.meta.client)  # idempotent
    counter.attach(sqs)
    # WHEN calls are made as "writer", then outside any caller
    with counter.acting_as("writer"):
        table.put_item(Item={"pk": "a", "v": 1})
        table.get_item(Key={"pk": "a"}, ConsistentRead=True)
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    # THEN each call is recorded once, with its caller and billed units
    calls = counter.reset()
    assert [(c.caller, c.operation, c.units) for c in calls] == [
        ("writer", "dynamodb:PutItem", {"dynamodb_wru": 1}),
        ("writer", "dynamodb:GetItem", {"dynamodb_rru": 1.0}),
        ("unattributed", "sqs:SendMessage", {"sqs_request": 1}),
    ]
    # AND the Table layer still returns plain values
    assert table.get_item(Key={"pk": "a"})["Item"] == {"pk": "a", "v": 1}
    assert CallCounter.tally(counter.reset()) == {"dynamodb:GetItem": 1}
