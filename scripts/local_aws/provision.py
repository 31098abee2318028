"""Provision the platform's resources (chalicelib.resources) on an AWS endpoint.

The local stack runs this against its emulators (tables on DynamoDB Local,
the rest on moto server); the infra parity test runs it under ``mock_aws``
and on DynamoDB Local and compares the result with infra/. Returns the
environment variables the Chalice app reads (the same ones
scripts/tf_outputs_to_chalice.py writes from Terraform outputs).
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from chalicelib import resources
from chalicelib.resources import resource_name
from local_aws.user_pool import provision_user_pool

__all__ = [
    "LOCAL_EMAIL_SENDER",
    "TERRAFORM_ONLY_TABLE_OPTIONS",
    "provision",
    "provision_services",
    "provision_tables",
    "table_names",
]

# Table options only infra/ sets: DynamoDB Local has no point-in-time recovery
# (UnknownOperationException), ignores SSE-KMS, and deletion protection guards
# nothing in an in-memory database that lives as long as the stack.
TERRAFORM_ONLY_TABLE_OPTIONS = (
    "point_in_time_recovery",
    "server_side_encryption",
    "deletion_protection_enabled",
)

# The local stack's sender identity (Terraform: var.email_sender).
LOCAL_EMAIL_SENDER = "no-reply@example.com"


def _create_table(dynamodb: Any, spec: resources.TableSpec, name: str) -> dict[str, Any]:
    attributes = [{"AttributeName": spec.hash_key, "AttributeType": spec.hash_key_type}]
    keys = [{"AttributeName": spec.hash_key, "KeyType": "HASH"}]
    if spec.range_key:
        attributes.append({"AttributeName": spec.range_key, "AttributeType": spec.range_key_type})
        keys.append({"AttributeName": spec.range_key, "KeyType": "RANGE"})
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": attributes,
        "KeySchema": keys,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.stream_view_type:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": spec.stream_view_type,
        }
    table = dynamodb.create_table(**kwargs)["TableDescription"]
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    return dict(table)


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def table_names(prefix: str) -> dict[str, str]:
    """The tables' name variables, known before the tables exist."""
    return {spec.env_var: resource_name(prefix, spec.suffix) for spec in resources.TABLES}


def provision_tables(dynamodb: Any, prefix: str) -> dict[str, str]:
    """Create the declared tables with ``dynamodb`` (a client); their environment variables."""
    env = table_names(prefix)
    for spec in resources.TABLES:
        description = _create_table(dynamodb, spec, env[spec.env_var])
        if spec.key == "ledger":
            env["LEDGER_STREAM_ARN"] = description["LatestStreamArn"]
    return env


def provision(
    prefix: str,
    *,
    session: boto3.session.Session | None = None,
    visibility_timeout_seconds: int | None = None,
    search_redaction_delay_seconds: int | None = None,
) -> dict[str, str]:
    """Create every declared resource; returns the app's environment variables.

    ``visibility_timeout_seconds`` overrides the queues' visibility timeout
    (the local stack uses a short one so retries and DLQ moves happen in
    seconds instead of minutes). ``search_redaction_delay_seconds`` is the
    search redaction queue's delay (default: AWS's, derived from
    resources.SEARCH_DELIVERY; the local stack derives it from its own Firehose).
    """
    session = session or boto3.session.Session()
    return {
        **provision_tables(session.client("dynamodb"), prefix),
        **provision_services(
            prefix,
            session=session,
            visibility_timeout_seconds=visibility_timeout_seconds,
            search_redaction_delay_seconds=search_redaction_delay_seconds,
        ),
    }


def _provision_search_redaction_queue(
    sqs: Any,
    prefix: str,
    delay_seconds: int,
    visibility_timeout_seconds: int | None,
) -> dict[str, str]:
    """The erasures' second-pass delay queue and its DLQ (resources.SEARCH_LATE_REDACTION)."""
    spec = resources.SEARCH_LATE_REDACTION
    _, dlq_arn = _create_queue(
        sqs,
        resource_name(prefix, spec.dlq_suffix),
        {"MessageRetentionPeriod": str(spec.dlq_message_retention_seconds)},
    )
    _create_queue(
        sqs,
        resource_name(prefix, spec.suffix),
        {
            "DelaySeconds": str(delay_seconds),
            "VisibilityTimeout": str(visibility_timeout_seconds or spec.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(spec.message_retention_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
            ),
        },
    )
    return {spec.env_var: resource_name(prefix, spec.suffix)}


def provision_services(
    prefix: str,
    *,
    session: boto3.session.Session | None = None,
    visibility_timeout_seconds: int | None = None,
    search_redaction_delay_seconds: int | None = None,
) -> dict[str, str]:
    """Create every declared resource but the tables (see ``provision``); their variables."""
    session = session or boto3.session.Session()
    kinesis = session.client("kinesis")
    sns = session.client("sns")
    sqs = session.client("sqs")
    s3 = session.client("s3")
    env: dict[str, str] = {"NAME_PREFIX": prefix}

    stream = resources.EVENT_STREAM
    stream_name = resource_name(prefix, stream.suffix)
    kinesis.create_stream(StreamName=stream_name, ShardCount=stream.shard_count)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    if stream.retention_hours > 24:
        kinesis.increase_stream_retention_period(
            StreamName=stream_name, RetentionPeriodHours=stream.retention_hours
        )
    env[stream.env_var] = stream_name

    topic_arn = sns.create_topic(Name=resource_name(prefix, resources.USER_EVENTS_TOPIC))[
        "TopicArn"
    ]
    env["USER_EVENTS_TOPIC_ARN"] = topic_arn

    for queue in (s.queue for s in resources.SUBSCRIBERS):
        _, dlq_arn = _create_queue(
            sqs,
            resource_name(prefix, queue.dlq_suffix),
            {"MessageRetentionPeriod": str(queue.dlq_message_retention_seconds)},
        )
        visibility = visibility_timeout_seconds or queue.visibility_timeout_seconds
        _, queue_arn = _create_queue(
            sqs,
            resource_name(prefix, queue.suffix),
            {
                "VisibilityTimeout": str(visibility),
                "MessageRetentionPeriod": str(queue.message_retention_seconds),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
                ),
            },
        )
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicy": json.dumps(queue.filter_policy),
                "FilterPolicyScope": "MessageAttributes",
            },
            ReturnSubscriptionArn=True,
        )
        env[queue.env_var] = resource_name(prefix, queue.suffix)

    failure_name = resource_name(prefix, resources.STREAM_FAILURE_QUEUE)
    _create_queue(sqs, failure_name, {"MessageRetentionPeriod": str(14 * 24 * 3600)})
    env[resources.STREAM_FAILURE_QUEUE_ENV_VAR] = failure_name
    delay = search_redaction_delay_seconds
    if delay is None:
        delay = resources.SEARCH_LATE_REDACTION.delay_seconds(
            resources.SEARCH_DELIVERY.delivery_window_seconds
        )
    env.update(_provision_search_redaction_queue(sqs, prefix, delay, visibility_timeout_seconds))

    kms = session.client("kms")
    key_id = kms.create_key(
        Description="Encrypts each person's data key (crypto-shredding)",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
    )["KeyMetadata"]["KeyId"]
    alias = f"alias/{resource_name(prefix, resources.PERSONAL_DATA_KEY_ALIAS)}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id)
    env[resources.PERSONAL_DATA_KEY_ENV_VAR] = alias

    archive = resources.ARCHIVE_DELIVERY
    bucket = resource_name(prefix, archive.bucket_suffix)
    region = session.region_name or "us-east-1"
    create_kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        create_kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**create_kwargs)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    env[archive.bucket_env_var] = bucket
    if any(resources.Need.SEND_EMAIL in s.needs for s in resources.SUBSCRIBERS):
        # moto verifies an identity on creation; AWS waits for the link SES mails.
        session.client("sesv2").create_email_identity(EmailIdentity=LOCAL_EMAIL_SENDER)
        env[resources.EMAIL_SENDER_ENV_VAR] = LOCAL_EMAIL_SENDER
    env.update(provision_user_pool(prefix, session))
    return env
