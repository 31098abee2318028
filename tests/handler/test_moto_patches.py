"""local_aws.moto_patches: each moto gap shown unpatched, then closed by its patch.

The "moto ..." tests fail once moto behaves like AWS: then drop the patch.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_aws import moto_patches
from tests.handler.helpers import apply_moto_patch

SWAGGER_2 = {
    "swagger": "2.0",
    "info": {"version": "1.0", "title": "event-platform"},
    "schemes": ["https"],
    "paths": {"/users/{user_id}": {"get": {"responses": {"200": {"description": "200 response"}}}}},
}


def _queue_with_redrive_allow_policy(session: boto3.session.Session) -> tuple[Any, str]:
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="evp-loyalty-dlq")["QueueUrl"]
    policy = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": ["arn:q"]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": policy})
    return sqs, url


def test_moto_never_returns_the_redrive_allow_policy(session: boto3.session.Session) -> None:
    # GIVEN a DLQ whose RedriveAllowPolicy was set, on unpatched moto
    sqs, url = _queue_with_redrive_allow_policy(session)
    # WHEN reading all its attributes
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # THEN the policy is missing (AWS returns it)
    assert "RedriveAllowPolicy" not in attributes


def test_patched_moto_returns_the_redrive_allow_policy_until_cleared(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch, and a DLQ whose RedriveAllowPolicy was set
    apply_moto_patch("sqs-redrive-allow-policy", monkeypatch)
    sqs, url = _queue_with_redrive_allow_policy(session)
    # WHEN reading it back, by name and with All
    by_name = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedriveAllowPolicy"])
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    # THEN it is there as set
    assert json.loads(by_name["Attributes"]["RedriveAllowPolicy"])["redrivePermission"] == "byQueue"
    assert "RedriveAllowPolicy" in everything["Attributes"]
    # AND setting it to "" removes it, as on AWS
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": ""})
    cleared = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "RedriveAllowPolicy" not in cleared
    # AND queues that never had one still answer
    other = sqs.create_queue(QueueName="plain")["QueueUrl"]
    plain = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["All"])["Attributes"]
    assert "QueueArn" in plain


POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}],
}


def _queue_with_policy_then_redrive(session: boto3.session.Session) -> dict[str, Any]:
    sqs: Any = session.client("sqs")
    dlq = sqs.create_queue(QueueName="evp-crm-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    url = sqs.create_queue(QueueName="evp-crm")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(POLICY)})
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(redrive)})
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return dict(attributes)


def test_moto_drops_the_policy_when_other_attributes_are_set(
    session: boto3.session.Session,
) -> None:
    # GIVEN a queue with a policy, on unpatched moto
    # WHEN setting its redrive policy alone
    attributes = _queue_with_policy_then_redrive(session)
    # THEN its policy is gone (AWS keeps it), and the redrive policy has spaces
    assert "Policy" not in attributes
    assert ", " in attributes["RedrivePolicy"]


def test_patched_moto_keeps_the_policy_and_returns_compact_redrive_policy(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch
    apply_moto_patch("sqs-set-attributes-keeps-the-rest", monkeypatch)
    # WHEN a queue with a policy gets its redrive policy set alone
    attributes = _queue_with_policy_then_redrive(session)
    # THEN both are there, the redrive policy as compact JSON
    assert json.loads(attributes["Policy"]) == POLICY
    assert " " not in attributes["RedrivePolicy"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3


def test_moto_cannot_import_a_swagger_2_document_without_description(
    session: boto3.session.Session,
) -> None:
    # GIVEN unpatched moto (in-process, so its KeyError surfaces as such)
    apigateway = session.client("apigateway")
    # WHEN importing a Swagger 2.0 document without info.description, as Chalice writes them
    # THEN moto fails (AWS imports it)
    with pytest.raises(KeyError, match="description"):
        apigateway.import_rest_api(body=json.dumps(SWAGGER_2))


def test_moto_refuses_to_put_a_swagger_2_document(session: boto3.session.Session) -> None:
    # GIVEN an API on unpatched moto
    apigateway = session.client("apigateway")
    api_id = apigateway.create_rest_api(name="event-platform")["id"]
    # WHEN putting a Swagger 2.0 document over it, as `chalice deploy` does on updates
    # THEN moto refuses the version (AWS accepts it)
    with pytest.raises(ClientError, match="BadRequest"):
        apigateway.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(SWAGGER_2))


def test_patched_moto_imports_and_puts_swagger_2(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch
    apply_moto_patch("apigateway-swagger-2", monkeypatch)
    apigateway = session.client("apigateway")
    # WHEN importing, then putting, a Swagger 2.0 document without description
    api_id = apigateway.import_rest_api(body=json.dumps(SWAGGER_2))["id"]
    apigateway.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(SWAGGER_2))
    # THEN the API has the document's resources
    paths = {r["path"] for r in apigateway.get_resources(restApiId=api_id)["items"]}
    assert "/users/{user_id}" in paths
    assert apigateway.get_rest_api(restApiId=api_id)["name"] == "event-platform"


def _function_and_queue(session: boto3.session.Session) -> tuple[Any, str, str]:
    iam, lam, sqs = session.client("iam"), session.client("lambda"), session.client("sqs")
    role = iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    function_arn = lam.create_function(
        FunctionName="event-platform-dev-loyalty_enrolment",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]
    url = sqs.create_queue(QueueName="evp-loyalty")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return lam, function_arn, queue_arn["Attributes"]["QueueArn"]


def test_moto_does_not_list_mappings_created_by_arn_when_asked_by_name(
    session: boto3.session.Session,
) -> None:
    # GIVEN a mapping created with the function's ARN (as Chalice does), on unpatched moto
    lam, function_arn, queue_arn = _function_and_queue(session)
    lam.create_event_source_mapping(FunctionName=function_arn, EventSourceArn=queue_arn)
    # WHEN listing the function's mappings by its name
    listed = lam.list_event_source_mappings(FunctionName="event-platform-dev-loyalty_enrolment")
    # THEN moto finds none (AWS lists the mapping)
    assert listed["EventSourceMappings"] == []


@pytest.mark.parametrize("created_with", ["name", "arn"])
@pytest.mark.parametrize("listed_with", ["name", "arn"])
def test_patched_moto_lists_a_functions_mappings_by_name_or_arn(
    session: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
    created_with: str,
    listed_with: str,
) -> None:
    # GIVEN the patch and a mapping created with the function's name or ARN
    apply_moto_patch("lambda-mappings-by-function-arn", monkeypatch)
    lam, function_arn, queue_arn = _function_and_queue(session)
    ref = {"name": "event-platform-dev-loyalty_enrolment", "arn": function_arn}
    uuid = lam.create_event_source_mapping(
        FunctionName=ref[created_with], EventSourceArn=queue_arn
    )["UUID"]
    # WHEN listing by name or ARN, and for another function
    listed = lam.list_event_source_mappings(FunctionName=ref[listed_with])
    other = lam.list_event_source_mappings(FunctionName="event-platform-dev-projector")
    # THEN the function's mapping is found, and only for it
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [uuid]
    assert other["EventSourceMappings"] == []


def test_moto_ignores_tags_given_to_create_stream(session: boto3.session.Session) -> None:
    # GIVEN unpatched moto
    kinesis = session.client("kinesis")
    # WHEN creating a stream with tags, as the provider does with default_tags
    kinesis.create_stream(StreamName="evp-events", ShardCount=1, Tags={"Project": "p"})
    # THEN the stream has none (AWS tags it)
    assert kinesis.list_tags_for_stream(StreamName="evp-events")["Tags"] == []


def test_patched_moto_tags_a_stream_at_creation(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch
    apply_moto_patch("kinesis-create-stream-tags", monkeypatch)
    kinesis = session.client("kinesis")
    # WHEN creating a stream with and without tags
    kinesis.create_stream(StreamName="evp-events", ShardCount=1, Tags={"Project": "p"})
    kinesis.create_stream(StreamName="plain", ShardCount=1)
    # THEN the first carries its tags, the second none
    tags = kinesis.list_tags_for_stream(StreamName="evp-events")["Tags"]
    assert tags == [{"Key": "Project", "Value": "p"}]
    assert kinesis.list_tags_for_stream(StreamName="plain")["Tags"] == []


def _delete_table_twice(session: boto3.session.Session) -> str:
    """The second DeleteTable's error message, as a resent request after a lost answer gets it."""
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(
        TableName="evp-gdpr-consents",
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.delete_table(TableName="evp-gdpr-consents")
    with pytest.raises(ClientError) as again:
        dynamodb.delete_table(TableName="evp-gdpr-consents")
    assert again.value.response["Error"]["Code"] == "ResourceNotFoundException"
    return str(again.value.response["Error"]["Message"])


# What the AWS provider (5.100.0, resourceTableDelete) counts as "already deleted".
PROVIDER_GONE_TABLE = "Requested resource not found: Table: "


def test_moto_does_not_name_the_table_a_delete_finds_gone(
    session: boto3.session.Session,
) -> None:
    # GIVEN unpatched moto, WHEN a table is deleted a second time
    message = _delete_table_twice(session)
    # THEN the answer is not the one the provider takes for "already deleted"
    assert message == "Requested resource not found"
    assert PROVIDER_GONE_TABLE not in message


def test_patched_moto_answers_a_second_delete_as_aws_does(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch
    apply_moto_patch("dynamodb-delete-missing-table-names-it", monkeypatch)
    # WHEN a table is deleted a second time
    message = _delete_table_twice(session)
    # THEN AWS's answer, which the provider counts as deleted
    assert message == "Requested resource not found: Table: evp-gdpr-consents not found"
    assert PROVIDER_GONE_TABLE in message


SENDER_ARN = "arn:aws:ses:eu-west-1:123456789012:identity/no-reply@example.com"


def test_moto_files_an_email_identitys_tags_under_another_arn(
    session: boto3.session.Session,
) -> None:
    # GIVEN unpatched moto
    ses = session.client("sesv2")
    # WHEN creating an email identity with tags, as the provider does with default_tags
    ses.create_email_identity(
        EmailIdentity="no-reply@example.com", Tags=[{"Key": "Project", "Value": "p"}]
    )
    # THEN the identity's ARN has none (AWS tags it)
    assert ses.list_tags_for_resource(ResourceArn=SENDER_ARN)["Tags"] == []


def test_patched_moto_tags_an_email_identity_by_its_arn(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch
    apply_moto_patch("sesv2-identity-tags-by-aws-arn", monkeypatch)
    ses = session.client("sesv2")
    # WHEN creating an email identity with tags
    ses.create_email_identity(
        EmailIdentity="no-reply@example.com", Tags=[{"Key": "Project", "Value": "p"}]
    )
    # THEN its ARN carries them
    tags = ses.list_tags_for_resource(ResourceArn=SENDER_ARN)["Tags"]
    assert tags == [{"Key": "Project", "Value": "p"}]


def test_moto_has_no_firehose_opensearch_destination(session: boto3.session.Session) -> None:
    # GIVEN unpatched moto
    firehose = session.client("firehose")
    # WHEN creating a delivery stream to an OpenSearch domain
    # THEN moto refuses it, which is why it is listed as not emulated
    with pytest.raises(ClientError, match="Exactly one destination configuration"):
        firehose.create_delivery_stream(
            DeliveryStreamName="evp-search",
            AmazonopensearchserviceDestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "DomainARN": "arn:aws:es:eu-west-1:123456789012:domain/evp-search",
                "IndexName": "events",
                "S3Configuration": {
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": "arn:aws:s3:::evp-archive",
                },
            },
        )
    assert moto_patches.not_emulated_reason(
        "aws_kinesis_firehose_delivery_stream", {"destination": "opensearch"}
    )
    assert (
        moto_patches.not_emulated_reason(
            "aws_kinesis_firehose_delivery_stream", {"destination": "extended_s3"}
        )
        is None
    )


def test_every_patch_says_what_moto_and_aws_do() -> None:
    # GIVEN the patches
    # WHEN reading their descriptions
    # THEN each names moto's behaviour and AWS's, and the names are unique
    assert all(p.moto and p.aws and p.moto != p.aws for p in moto_patches.PATCHES)
    assert len({p.name for p in moto_patches.PATCHES}) == len(moto_patches.PATCHES)


def _replay_definition() -> str:
    from replay_aws import render_definition

    values = {
        "worker_function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:evp-replay_worker",
        "bucket_count": 4,
        "max_concurrency": 4,
        "tolerated_failure_percentage": 0,
    }
    return json.dumps(render_definition(values))


def test_moto_cannot_validate_a_state_machine_definition(session: boto3.session.Session) -> None:
    # GIVEN unpatched moto
    # WHEN the provider's plan-time check asks it to validate a definition
    # THEN moto has no such action
    with pytest.raises(NotImplementedError):
        session.client("stepfunctions").validate_state_machine_definition(
            definition=_replay_definition()
        )


def test_patched_moto_validates_the_shape_of_a_definition(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN moto patched
    apply_moto_patch("sfn-validate-definition", monkeypatch)
    sfn = session.client("stepfunctions")
    broken = json.loads(_replay_definition())
    broken["States"]["FoldBuckets"]["Next"] = "Nowhere"
    del broken["States"]["FoldBuckets"]["ItemProcessor"]["States"]["FoldBucket"]["End"]
    # WHEN validating the replay definition, and a broken copy of it
    good = sfn.validate_state_machine_definition(definition=_replay_definition())
    bad = sfn.validate_state_machine_definition(definition=json.dumps(broken))
    # THEN the first is OK, the second FAILs naming both faults
    assert (good["result"], good["diagnostics"]) == ("OK", [])
    assert bad["result"] == "FAIL"
    messages = [d["message"] for d in bad["diagnostics"]]
    assert messages == [
        "/FoldBuckets: Next 'Nowhere' names no state",
        "/FoldBuckets/FoldBucket: neither Next nor End",
    ]


def test_moto_cannot_list_state_machine_versions(session: boto3.session.Session) -> None:
    # GIVEN unpatched moto and a state machine
    sfn = session.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/replay-states"
    arn = sfn.create_state_machine(name="r", definition=_replay_definition(), roleArn=role)
    # WHEN the provider lists its versions, THEN moto has no such action
    with pytest.raises(NotImplementedError):
        sfn.list_state_machine_versions(stateMachineArn=arn["stateMachineArn"])


def test_patched_moto_lists_the_published_versions_newest_first(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN moto patched, one state machine never published and one published twice
    apply_moto_patch("sfn-list-state-machine-versions", monkeypatch)
    sfn = session.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/replay-states"
    plain = sfn.create_state_machine(name="a", definition=_replay_definition(), roleArn=role)
    published = sfn.create_state_machine(
        name="b", definition=_replay_definition(), roleArn=role, publish=True
    )["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=published, publish=True)
    # WHEN listing their versions
    none = sfn.list_state_machine_versions(stateMachineArn=plain["stateMachineArn"])
    two = sfn.list_state_machine_versions(stateMachineArn=published)
    # THEN the first has none, the second both, newest first
    assert none["stateMachineVersions"] == []
    assert [v["stateMachineVersionArn"] for v in two["stateMachineVersions"]] == [
        f"{published}:2",
        f"{published}:1",
    ]


def _dlq_with_messages(session: boto3.session.Session, count: int) -> tuple[Any, str, str]:
    """A source queue whose DLQ holds ``count`` messages with an attribute; (sqs, source, dlq)."""
    sqs = session.client("sqs")
    dlq = sqs.create_queue(QueueName="evp-gdpr-consents-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    source = sqs.create_queue(
        QueueName="evp-gdpr-consents", Attributes={"RedrivePolicy": redrive}
    )["QueueUrl"]
    for n in range(count):
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=f"m{n}",
            MessageAttributes={"type": {"DataType": "String", "StringValue": "t"}},
        )
    return sqs, source, dlq


def _arn(sqs: Any, url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def test_moto_cannot_start_a_message_move_task(session: boto3.session.Session) -> None:
    # GIVEN a DLQ with a message, on unpatched moto
    sqs, _, dlq = _dlq_with_messages(session, 1)
    # WHEN a move task is started
    # THEN moto has no such action (moto server answers 500; AWS starts the task)
    with pytest.raises(NotImplementedError):
        sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))


def test_patched_moto_moves_a_dlq_back_as_a_completed_task(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch, and 12 messages (more than one receive) in a DLQ
    apply_moto_patch("sqs-message-move-tasks", monkeypatch)
    sqs, source, dlq = _dlq_with_messages(session, 12)
    # WHEN a move task is started without a destination, and listed
    task = sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))
    listed = sqs.list_message_move_tasks(SourceArn=_arn(sqs, dlq), MaxResults=10)["Results"]
    # THEN it is the one task, completed, and every message is back with its attributes
    assert [(t["TaskHandle"], t["Status"]) for t in listed] == [(task["TaskHandle"], "COMPLETED")]
    assert listed[0]["ApproximateNumberOfMessagesMoved"] == 12
    assert listed[0]["DestinationArn"] == _arn(sqs, source)
    moved: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        moved += batch
    assert sorted(m["Body"] for m in moved) == sorted(f"m{n}" for n in range(12))
    assert {m["MessageAttributes"]["type"]["StringValue"] for m in moved} == {"t"}
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_patched_moto_refuses_to_move_from_a_queue_that_is_no_dlq(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the patch, and a source queue (which is nobody's DLQ)
    apply_moto_patch("sqs-message-move-tasks", monkeypatch)
    sqs, source, _ = _dlq_with_messages(session, 1)
    # WHEN a move task is started from it
    # THEN it is refused, as AWS does
    with pytest.raises(ClientError, match="Dead Letter Queue"):
        sqs.start_message_move_task(SourceArn=_arn(sqs, source))
