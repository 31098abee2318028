"""infra/ declares exactly the resources of chalicelib.resources (and the local stack).

Subscribers reach Terraform through the generated subscribers.auto.tfvars.json,
so for them this checks that the file is current and that what the local stack
provisions from the declaration is what Terraform is given.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from gen_subscribers_tfvars import TFVARS, render

from chalicelib import resources
from chalicelib.entrypoints.gateway_responses import GATEWAY_RESPONSES
from local_aws.provision import TERRAFORM_ONLY_TABLE_OPTIONS, provision_tables
from local_aws.terraform_cli import missing_tooling
from tests.infra import hcl
from tests.infra.terraform import initialised_copy

PREFIX = "evp"


@pytest.fixture(scope="module")
def root() -> hcl.Module:
    return hcl.module()


def declared_tables(root: hcl.Module, prefix: str = PREFIX) -> dict[str, dict[str, Any]]:
    """Tables as infra/ declares them (platform and subscribers'), keyed by deployed name."""
    tables = [*root.locals["platform_tables"].values()]
    tables += [s["table"] for s in hcl.subscribers().values()]
    return {f"{prefix}-{t['suffix']}": t for t in tables}


def declared_queues() -> dict[str, dict[str, Any]]:
    """Subscriber queues as Terraform is given them, keyed by deployed name (prefix evp)."""
    return {
        f"{PREFIX}-{s['queue']['suffix']}": {
            **s["queue"],
            "filter_policy": json.loads(s["queue"]["filter_policy_json"]),
        }
        for s in hcl.subscribers().values()
    }


# ------------------------------------------------- infra/ vs resources.py


def test_platform_tables_match_resources(root: hcl.Module) -> None:
    # GIVEN the platform tables in infra/ and chalicelib.resources.PLATFORM_TABLES
    declared = root.locals["platform_tables"]
    # WHEN comparing them table by table
    expected = {
        t.key: {
            "env_var": t.env_var,
            "suffix": t.suffix,
            "hash_key": t.hash_key,
            "hash_key_type": t.hash_key_type,
            "range_key": t.range_key,
            "range_key_type": t.range_key_type if t.range_key else None,
            "stream_view_type": t.stream_view_type,
            "ttl_attribute": t.ttl_attribute,
        }
        for t in resources.PLATFORM_TABLES
    }
    # THEN names, keys, key types, streams and TTL are the same
    assert declared == expected


def test_generated_subscriber_inputs_are_current() -> None:
    # GIVEN the committed Terraform inputs and the subscriber declarations
    committed = TFVARS.read_text()
    # WHEN generating the inputs again
    generated = render()
    # THEN they are identical (run scripts/gen_subscribers_tfvars.py after changing one)
    assert committed == generated


def test_terraform_builds_every_subscriber_from_the_generated_inputs(root: hcl.Module) -> None:
    # GIVEN the catalogue's tables and queues, and the IAM module call
    tables = hcl.expression(root.locals["tables"])
    queues = hcl.expression(root.locals["queues"])
    iam = root.modules["iam"]
    # WHEN reading where they come from
    # THEN each subscriber's table, queue and IAM are iterated from var.subscribers
    assert "local.platform_tables" in tables and "var.subscribers" in tables
    assert "var.subscribers" in queues
    assert "var.subscribers" in hcl.expression(hcl.attr(iam, "subscribers"))
    assert hcl.expression(hcl.attr(root.modules["pubsub"], "queues")) == "local.queues"
    assert hcl.expression(hcl.attr(root.modules["state"], "tables")) == "local.tables"


def test_state_module_builds_tables_from_the_catalogue(root: hcl.Module) -> None:
    # GIVEN the root's state module call and the state module's table resource
    call = root.modules["state"]
    table = hcl.module("modules/state").resource("aws_dynamodb_table", "this")
    # WHEN reading how names, PITR, streams and TTL are set
    pitr = hcl.attr(hcl.blocks(table, "point_in_time_recovery")[0], "enabled")
    # THEN every catalogue table is created as <name_prefix>-<suffix> with PITR and KMS
    assert hcl.expression(hcl.attr(call, "tables")) == "local.tables"
    assert hcl.expression(hcl.attr(call, "name_prefix")) == "var.name_prefix"
    assert hcl.attr(table, "name") == "${var.name_prefix}-${each.value.suffix}"
    assert pitr is True
    assert "each.value.stream_view_type" in str(hcl.attr(table, "stream_view_type"))
    assert "ttl_attribute" in json.dumps(hcl.clean(table.get("dynamic", [])))
    sse = hcl.blocks(table, "server_side_encryption")[0]
    assert hcl.attr(sse, "enabled") is True and "kms_key_arn" in sse


def test_table_options_the_local_stack_lacks_are_set_by_terraform() -> None:
    # GIVEN the state module's table resource
    table = hcl.module("modules/state").resource("aws_dynamodb_table", "this")
    # WHEN reading the options the local stack's provisioning leaves to Terraform
    settings = {
        "point_in_time_recovery": lambda: hcl.attr(
            hcl.blocks(table, "point_in_time_recovery")[0], "enabled"
        ),
        "server_side_encryption": lambda: hcl.attr(
            hcl.blocks(table, "server_side_encryption")[0], "enabled"
        ),
        "deletion_protection_enabled": lambda: hcl.attr(table, "deletion_protection_enabled"),
    }
    # THEN each is one infra/ turns on (PITR, SSE-KMS, deletion protection: Terraform-only)
    assert set(TERRAFORM_ONLY_TABLE_OPTIONS) == set(settings)
    assert all(settings[option]() is True for option in TERRAFORM_ONLY_TABLE_OPTIONS)


def test_pubsub_module_wires_queues_dlqs_and_subscriptions(root: hcl.Module) -> None:
    # GIVEN the pubsub module
    pubsub = hcl.module("modules/pubsub")
    queue = pubsub.resource("aws_sqs_queue", "queue")
    dlq = pubsub.resource("aws_sqs_queue", "dlq")
    failures = pubsub.resource("aws_sqs_queue", "stream_failures")
    subscription = pubsub.resource("aws_sns_topic_subscription", "queue")
    topic = pubsub.resource("aws_sns_topic", "user_events")
    call = root.modules["pubsub"]
    # WHEN reading names, redrive, visibility and subscription settings
    redrive = str(hcl.attr(queue, "redrive_policy"))
    # THEN they come from the catalogue entries, with raw delivery on message attributes
    assert hcl.attr(queue, "name") == "${var.name_prefix}-${each.value.suffix}"
    assert hcl.attr(dlq, "name") == "${var.name_prefix}-${each.value.suffix}-dlq"
    assert hcl.attr(topic, "name") == "${var.name_prefix}-${var.topic_suffix}"
    assert hcl.attr(failures, "name") == "${var.name_prefix}-${var.stream_failure_queue_suffix}"
    assert hcl.expression(hcl.attr(call, "topic_suffix")) == "local.user_events_topic_suffix"
    assert root.locals["user_events_topic_suffix"] == resources.USER_EVENTS_TOPIC
    assert root.locals["stream_failure_queue_suffix"] == resources.STREAM_FAILURE_QUEUE
    assert "each.value.max_receive_count" in redrive and "aws_sqs_queue.dlq" in redrive
    assert hcl.expression(hcl.attr(queue, "visibility_timeout_seconds")) == (
        "each.value.visibility_timeout_seconds"
    )
    assert hcl.attr(subscription, "raw_message_delivery") is True
    assert hcl.attr(subscription, "filter_policy_scope") == "MessageAttributes"
    assert hcl.attr(subscription, "protocol") == "sqs"
    for resource in (queue, dlq, failures, topic):
        assert "kms_master_key_id" in resource


def test_event_stream_matches_resources(root: hcl.Module) -> None:
    # GIVEN the root module's stream settings and resources.EVENT_STREAM
    call = root.modules["event_log"]
    stream = hcl.module("modules/event_log").resource("aws_kinesis_stream", "this")
    # WHEN reading the name, retention and shard count defaults
    # THEN they match, and the stream is KMS encrypted
    assert root.locals["event_stream_suffix"] == resources.EVENT_STREAM.suffix
    assert hcl.attr(call, "name") == "${var.name_prefix}-${local.event_stream_suffix}"
    assert root.variable_default("stream_retention_hours") == resources.EVENT_STREAM.retention_hours
    assert root.variable_default("stream_shard_count") == resources.EVENT_STREAM.shard_count
    assert hcl.expression(hcl.attr(call, "retention_hours")) == "var.stream_retention_hours"
    assert hcl.expression(hcl.attr(stream, "retention_period")) == "var.retention_hours"
    assert hcl.attr(stream, "encryption_type") == "KMS"


def test_user_pool_matches_resources(root: hcl.Module) -> None:
    # GIVEN the catalogue's user pool, the module call and resources.USER_POOL
    pool = root.locals["user_pool"]
    call = root.modules["identity"]
    spec = resources.USER_POOL
    # WHEN reading names, groups, password length, token lifetimes and flows
    # THEN they are the declaration's, and the module gets them from the catalogue
    assert pool["suffix"] == spec.suffix
    assert pool["app_client_suffix"] == spec.app_client_suffix
    assert pool["groups"] == spec.groups
    assert pool["password_minimum_length"] == spec.password_minimum_length
    assert pool["access_token_validity_minutes"] == spec.access_token_validity_minutes
    assert pool["id_token_validity_minutes"] == spec.id_token_validity_minutes
    assert pool["refresh_token_validity_days"] == spec.refresh_token_validity_days
    assert pool["explicit_auth_flows"] == list(spec.explicit_auth_flows)
    assert hcl.attr(call, "pool_name") == "${var.name_prefix}-${local.user_pool.suffix}"
    assert hcl.expression(hcl.attr(call, "groups")) == "local.user_pool.groups"


def test_user_pool_signs_people_in_by_email_with_a_strong_password(root: hcl.Module) -> None:
    # GIVEN the identity module's pool and app client
    module = hcl.module("modules/identity")
    pool = module.resource("aws_cognito_user_pool", "this")
    client = module.resource("aws_cognito_user_pool_client", "api")
    policy = hcl.blocks(pool, "password_policy")[0]
    # THEN email is the (case-insensitive) username, so every person has one stable sub
    assert hcl.attr(pool, "username_attributes") == ["email"]
    assert hcl.attr(hcl.blocks(pool, "username_configuration")[0], "case_sensitive") is False
    assert "alias_attributes" not in pool
    # AND passwords need every character class, deletion protection and threat protection are on
    assert all(
        hcl.attr(policy, f"require_{kind}") is True
        for kind in ("lowercase", "uppercase", "numbers", "symbols")
    )
    assert root.variable_default("cognito_deletion_protection") is True
    assert "ACTIVE" in str(hcl.attr(pool, "deletion_protection"))
    assert root.variable_default("cognito_advanced_security_mode") == "ENFORCED"
    # AND the API's client is public, without the plain-password flow
    assert hcl.attr(client, "generate_secret") is False
    assert "ALLOW_USER_PASSWORD_AUTH" not in resources.USER_POOL.explicit_auth_flows


def test_a_waf_rate_limit_answers_like_the_stage_throttling(root: hcl.Module) -> None:
    # GIVEN the catalogue's answer to a blocked caller and the web ACL module's rules
    declared = root.locals["rate_limited_response"]
    body = str(declared["body"])
    body = json.loads(f'"{body}"') if '\\"' in body else body  # parser dialects: HCL escapes
    throttled = GATEWAY_RESPONSES["THROTTLED"]
    acl = hcl.module("modules/api_protection").resource("aws_wafv2_web_acl", "api")
    rules = "\n".join(str(hcl.attr(rule, "action")) for rule in hcl.blocks(acl, "rule"))
    # THEN it is the throttling gateway response (status and error shape), which both
    # rate-based rules answer with
    assert declared["status_code"] == throttled.status_code == 429
    assert json.loads(body) == json.loads(throttled.template())
    assert rules.count("var.blocked_status_code") == len(hcl.blocks(acl, "rule")) == 2
    assert "local.rate_limited_response.body" in str(root.modules["api_protection"])


def test_archive_delivery_matches_resources(root: hcl.Module) -> None:
    # GIVEN the catalogue's archive settings and resources.ARCHIVE_DELIVERY
    archive = root.locals["archive"]
    spec = resources.ARCHIVE_DELIVERY
    call = root.modules["archive"]
    firehose = hcl.module("modules/archive").resource(
        "aws_kinesis_firehose_delivery_stream", "archive"
    )
    s3 = hcl.blocks(firehose, "extended_s3_configuration")[0]
    # WHEN comparing bucket, delivery stream, prefixes and buffering
    # THEN they match, and every event goes to S3 as sealed: Kinesis -> S3, no transformation
    assert archive == {
        "bucket_suffix": spec.bucket_suffix,
        "delivery_suffix": spec.delivery_suffix,
        "prefix": spec.prefix,
        "error_prefix": spec.error_prefix,
        "buffering_interval_seconds": spec.buffering_interval_seconds,
        "buffering_size_mb": spec.buffering_size_mb,
    }
    assert hcl.attr(call, "delivery_stream_name") == (
        "${var.name_prefix}-${local.archive.delivery_suffix}"
    )
    assert hcl.attr(firehose, "destination") == "extended_s3"
    assert "opensearch_configuration" not in firehose
    # (its only processing is Firehose's own metadata extraction: no Lambda sees the events)
    processors = [
        p for c in hcl.blocks(s3, "processing_configuration") for p in hcl.blocks(c, "processors")
    ]
    assert [hcl.attr(p, "type") for p in processors] == ["MetadataExtraction"]
    assert "dynamic" not in s3
    assert hcl.expression(hcl.attr(s3, "prefix")) == "var.prefix"
    assert hcl.expression(hcl.attr(s3, "error_output_prefix")) == "var.error_prefix"
    assert hcl.expression(hcl.attr(s3, "buffering_interval")) == "var.buffering_interval_seconds"
    assert hcl.expression(hcl.attr(s3, "buffering_size")) == "var.buffering_size_mb"
    assert hcl.expression(hcl.attr(s3, "kms_key_arn")) == "var.kms_key_arn"
    assert hcl.attr(s3, "compression_format") == "UNCOMPRESSED"


def test_search_delivery_matches_resources(root: hcl.Module) -> None:
    # GIVEN the catalogue's search delivery settings and resources.SEARCH_DELIVERY
    declared = root.locals["search_delivery"]
    spec = resources.SEARCH_DELIVERY
    call = root.modules["archive"]
    module = hcl.module("modules/archive")
    firehose = module.resource("aws_kinesis_firehose_delivery_stream", "search")
    opensearch = hcl.blocks(firehose, "opensearch_configuration")[0]
    s3 = hcl.blocks(opensearch, "s3_configuration")[0]
    processing = hcl.blocks(opensearch, "dynamic")[0]["processing_configuration"]
    processor = hcl.blocks(hcl.blocks(processing, "content")[0], "processors")[0]
    parameters = {
        hcl.attr(p, "parameter_name"): hcl.expression(hcl.attr(p, "parameter_value"))
        for p in hcl.blocks(processor, "parameters")
    }
    # WHEN comparing name, failed-documents prefix, expiry and buffering
    # THEN they match resources.py (the expiry is a variable whose default is the spec's)
    assert declared == {
        "delivery_suffix": spec.delivery_suffix,
        "failed_documents_prefix": spec.failed_documents_prefix,
        "buffering_interval_seconds": spec.buffering_interval_seconds,
        "buffering_size_mb": spec.buffering_size_mb,
        "retry_duration_seconds": spec.retry_duration_seconds,
        "transform_timeout_seconds": spec.transform_timeout_seconds,
    }
    assert hcl.expression(hcl.attr(opensearch, "retry_duration")) == (
        "var.search_retry_duration_seconds"
    )
    assert hcl.expression(hcl.attr(call, "search_retry_duration_seconds")) == (
        "local.search_delivery.retry_duration_seconds"
    )
    assert hcl.expression(hcl.attr(call, "search_transform_timeout_seconds")) == (
        "local.search_delivery.transform_timeout_seconds"
    )
    assert root.variable_default("search_failed_documents_expiry_days") == (
        spec.failed_documents_expiry_days
    )
    assert hcl.attr(call, "search_delivery_stream_name") == (
        "${var.name_prefix}-${local.search_delivery.delivery_suffix}"
    )
    assert hcl.expression(hcl.attr(call, "failed_documents_expiry_days")) == (
        "var.search_failed_documents_expiry_days"
    )
    assert hcl.expression(hcl.attr(call, "search_transform_function_arn")) == (
        'module.iam.function_arns["search_transform"]'
    )
    # AND the stream indexes through the search_transform Lambda, backing up failed documents only
    assert hcl.attr(firehose, "destination") == "opensearch"
    assert hcl.attr(opensearch, "s3_backup_mode") == "FailedDocumentsOnly"
    assert hcl.attr(processor, "type") == "Lambda"
    assert parameters["LambdaArn"] == "processing_configuration.value"
    assert "var.search_transform_function_arn" in str(hcl.attr(processing, "for_each"))
    assert hcl.expression(hcl.attr(s3, "prefix")) == "var.failed_documents_prefix"
    assert hcl.expression(hcl.attr(s3, "error_output_prefix")) == "var.failed_documents_prefix"
    assert root.variable_default("search_transform_enabled") is True


def test_replay_state_machine_matches_resources(root: hcl.Module) -> None:
    # GIVEN the catalogue's replay settings and resources.REPLAY
    declared = root.locals["replay"]
    spec = resources.REPLAY
    call = root.modules["replay"]
    # WHEN comparing them
    # THEN the declaration is the same, and the root module builds the state machine from it
    assert declared == {
        "handler": spec.handler,
        "state_machine_suffix": spec.state_machine_suffix,
        "parts_prefix": spec.parts_prefix,
        "timeout_seconds": spec.timeout_seconds,
    }
    assert hcl.attr(call, "name") == "${var.name_prefix}-${local.replay.state_machine_suffix}"
    assert hcl.expression(hcl.attr(call, "worker_function_arn")) == (
        "module.iam.function_arns[local.replay.handler]"
    )
    assert hcl.expression(hcl.attr(call, "worker_timeout_seconds")) == (
        "local.replay.timeout_seconds"
    )
    parts = hcl.attr(root.modules["iam"], "replay_parts_prefix")
    assert hcl.expression(parts) == "local.replay.parts_prefix"


def test_search_redaction_queue_matches_resources(root: hcl.Module) -> None:
    # GIVEN the catalogue's late redaction settings and resources.SEARCH_LATE_REDACTION
    declared = root.locals["search_late_redaction"]
    spec = resources.SEARCH_LATE_REDACTION
    call = hcl.attr(root.modules["archive"], "search_redaction")
    module = hcl.module("modules/archive")
    queue = module.resource("aws_sqs_queue", "search_redaction")
    # WHEN comparing them
    # THEN the declaration is the same
    assert declared == {
        "handler": spec.handler,
        "env_var": spec.env_var,
        "suffix": spec.suffix,
        "margin_seconds": spec.margin_seconds,
        "max_receive_count": spec.max_receive_count,
        "batch_size": spec.batch_size,
        "maximum_concurrency": spec.maximum_concurrency,
        "lambda_timeout_seconds": spec.lambda_timeout_seconds,
        "message_retention_seconds": spec.message_retention_seconds,
        "dlq_message_retention_seconds": spec.dlq_message_retention_seconds,
    }
    assert call["queue_name"] == "${var.name_prefix}-${local.search_late_redaction.suffix}"
    assert hcl.expression(call["visibility_timeout_seconds"]) == (
        "6 * local.search_late_redaction.lambda_timeout_seconds"
    )
    # AND Terraform derives the queue's delay from the delivery stream's own settings,
    # the same sum as resources.py (no delay is typed anywhere)
    assert hcl.expression(hcl.attr(queue, "delay_seconds")) == (
        "local.search_redaction_delay_seconds"
    )
    window = module.locals["search_delivery_window_seconds"]
    assert window == (
        "${var.search_transform_timeout_seconds + var.search_buffering_interval_seconds"
        " + var.search_retry_duration_seconds}"
    )
    assert module.locals["search_redaction_delay_seconds"] == (
        "${local.search_delivery_window_seconds + var.search_redaction.margin_seconds}"
    )
    search = root.locals["search_delivery"]
    terraform_delay = (
        search["transform_timeout_seconds"]
        + search["buffering_interval_seconds"]
        + search["retry_duration_seconds"]
        + declared["margin_seconds"]
    )
    assert terraform_delay == spec.delay_seconds(resources.SEARCH_DELIVERY.delivery_window_seconds)


def test_failed_search_documents_expire_with_their_versions() -> None:
    # GIVEN the archive bucket's lifecycle configuration
    module = hcl.module("modules/archive")
    lifecycle = module.resource("aws_s3_bucket_lifecycle_configuration", "archive")
    rules = {hcl.attr(r, "id"): r for r in hcl.blocks(lifecycle, "rule")}
    # WHEN reading the rule for failed search documents
    rule = rules["expire-failed-search-documents"]
    prefix = hcl.attr(hcl.blocks(rule, "filter")[0], "prefix")
    expiration = hcl.attr(hcl.blocks(rule, "expiration")[0], "days")
    noncurrent = hcl.blocks(rule, "noncurrent_version_expiration")[0]
    # THEN the failed-documents prefix expires after the variable's days, old versions a day later
    assert hcl.attr(rule, "status") == "Enabled"
    assert hcl.expression(prefix) == "var.failed_documents_prefix"
    assert hcl.expression(expiration) == "var.failed_documents_expiry_days"
    assert hcl.attr(noncurrent, "noncurrent_days") == 1
    assert resources.SEARCH_DELIVERY.failed_documents_prefix.endswith("/")
    assert not resources.ARCHIVE_DELIVERY.prefix.startswith(
        resources.SEARCH_DELIVERY.failed_documents_prefix
    )


# ------------------------------------------- infra/ vs the local stack (moto)


@pytest.fixture
def provisioned(session: boto3.session.Session) -> boto3.session.Session:
    """GIVEN the local stack's provisioning run against moto."""
    provision_module = pytest.importorskip("local_aws.provision")
    provision_module.provision(PREFIX)
    return session


def _assert_tables_equal_infra(dynamodb: Any, root: hcl.Module, prefix: str) -> None:
    """The tables named ``<prefix>-*`` are infra's, with the same keys, streams and TTL."""
    names = {n for n in dynamodb.list_tables()["TableNames"] if n.startswith(f"{prefix}-")}
    declared = declared_tables(root, prefix)
    assert names == set(declared)
    for name, spec in declared.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        assert keys.get("HASH") == spec["hash_key"], name
        assert keys.get("RANGE") == spec["range_key"], name
        assert types[spec["hash_key"]] == spec["hash_key_type"], name
        if spec["range_key"]:
            assert types[spec["range_key"]] == spec["range_key_type"], name
        stream = table.get("StreamSpecification", {})
        assert stream.get("StreamViewType") == spec["stream_view_type"], name
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == spec["ttl_attribute"], name


def test_local_stack_tables_equal_infra(root: hcl.Module, provisioned: Any) -> None:
    # WHEN describing the tables the provisioning created (in-process moto)
    # THEN they are the tables infra/ declares, with the same keys, streams and TTL
    _assert_tables_equal_infra(provisioned.client("dynamodb"), root, PREFIX)


@pytest.mark.slow
def test_tables_on_dynamodb_local_equal_infra(root: hcl.Module, dynamodb_local_url: str) -> None:
    # GIVEN the local stack's table provisioning run against DynamoDB Local
    dynamodb = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    ).client("dynamodb", endpoint_url=dynamodb_local_url)
    prefix = f"parity{uuid.uuid4().hex[:6]}"
    env = provision_tables(dynamodb, prefix)
    # WHEN describing them THEN they are infra's tables, keys, streams and TTL
    _assert_tables_equal_infra(dynamodb, root, prefix)
    assert env["LEDGER_STREAM_ARN"].startswith("arn:aws:dynamodb:")


def test_local_stack_queues_and_subscriptions_equal_infra(
    root: hcl.Module, provisioned: Any
) -> None:
    sqs = provisioned.client("sqs")
    sns = provisioned.client("sns")
    declared = declared_queues()
    failure_queue = f"{PREFIX}-{root.locals['stream_failure_queue_suffix']}"
    topic = f"{PREFIX}-{root.locals['user_events_topic_suffix']}"
    # WHEN listing queues, their attributes and the topic's subscriptions
    urls = sqs.list_queues(QueueNamePrefix=f"{PREFIX}-").get("QueueUrls", [])
    names = {u.rsplit("/", 1)[-1] for u in urls}
    subscriptions = {
        s["Endpoint"].rsplit(":", 1)[-1]: s
        for s in sns.list_subscriptions()["Subscriptions"]
        if s["TopicArn"].endswith(f":{topic}")
    }
    # THEN queues, DLQs, redrive, visibility, retention and filter policies are infra's
    redaction = f"{PREFIX}-{root.locals['search_late_redaction']['suffix']}"
    assert names == (
        set(declared)
        | {f"{n}-dlq" for n in declared}
        | {failure_queue, redaction, f"{redaction}-dlq"}
    )
    for name, spec in declared.items():
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert int(attrs["VisibilityTimeout"]) == spec["visibility_timeout_seconds"], name
        assert int(attrs["MessageRetentionPeriod"]) == spec["message_retention_seconds"], name
        assert int(redrive["maxReceiveCount"]) == spec["max_receive_count"], name
        assert redrive["deadLetterTargetArn"].endswith(f":{name}-dlq"), name
        dlq_url = sqs.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        assert int(dlq["MessageRetentionPeriod"]) == spec["dlq_message_retention_seconds"], name
        sub_attrs = sns.get_subscription_attributes(
            SubscriptionArn=subscriptions[name]["SubscriptionArn"]
        )["Attributes"]
        assert json.loads(sub_attrs["FilterPolicy"]) == spec["filter_policy"], name
        assert sub_attrs.get("RawMessageDelivery") == "true", name
        assert sub_attrs.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    assert set(subscriptions) == set(declared)


def test_local_stack_stream_and_bucket_equal_infra(root: hcl.Module, provisioned: Any) -> None:
    kinesis = provisioned.client("kinesis")
    s3 = provisioned.client("s3")
    stream_name = f"{PREFIX}-{root.locals['event_stream_suffix']}"
    bucket = f"{PREFIX}-{root.locals['archive']['bucket_suffix']}"
    # WHEN describing the stream and the archive bucket
    summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    # THEN retention and shards are infra's defaults, and the bucket is versioned
    assert summary["RetentionPeriodHours"] == root.variable_default("stream_retention_hours")
    assert summary["OpenShardCount"] == root.variable_default("stream_shard_count")
    assert versioning.get("Status") == "Enabled"


def test_local_stack_user_pool_equals_infra(root: hcl.Module, provisioned: Any) -> None:
    cognito = provisioned.client("cognito-idp")
    declared = root.locals["user_pool"]
    # WHEN describing the pool, its client and groups moto now holds
    pools = cognito.list_user_pools(MaxResults=10)["UserPools"]
    assert [p["Name"] for p in pools] == [f"{PREFIX}-{declared['suffix']}"]
    pool = cognito.describe_user_pool(UserPoolId=pools[0]["Id"])["UserPool"]
    (client,) = cognito.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    client = cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"])
    client = client["UserPoolClient"]
    groups = cognito.list_groups(UserPoolId=pool["Id"])["Groups"]
    # THEN email is the case-insensitive username and the password policy is infra's
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    password = pool["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] == declared["password_minimum_length"]
    assert all(
        password[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols")
    )
    assert pool["DeletionProtection"] == "ACTIVE"
    assert pool["UserPoolAddOns"]["AdvancedSecurityMode"] == root.variable_default(
        "cognito_advanced_security_mode"
    )
    # AND the client is infra's: named, public, the same flows and token lifetimes
    assert client["ClientName"] == f"{PREFIX}-{declared['app_client_suffix']}"
    assert "ClientSecret" not in client
    assert sorted(client["ExplicitAuthFlows"]) == sorted(declared["explicit_auth_flows"])
    assert client["AccessTokenValidity"] == declared["access_token_validity_minutes"]
    assert client["RefreshTokenValidity"] == declared["refresh_token_validity_days"]
    # AND the groups are infra's, with their descriptions
    assert {g["GroupName"]: g.get("Description") for g in groups} == declared["groups"]


def test_local_stack_hands_the_api_the_pool_it_created(session: boto3.session.Session) -> None:
    provision_module = pytest.importorskip("local_aws.provision")
    # WHEN provisioning the local stack's resources
    env = provision_module.provision(PREFIX)
    pool_id = env["COGNITO_USER_POOL_ID"]
    cognito = session.client("cognito-idp")
    # THEN the variables name the pool and client that exist, with AWS's issuer and key set URL
    cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=env["COGNITO_APP_CLIENT_ID"])
    assert env["COGNITO_ISSUER"] == f"https://cognito-idp.eu-west-1.amazonaws.com/{pool_id}"
    assert env["COGNITO_JWKS_URL"] == f"{env['COGNITO_ISSUER']}/.well-known/jwks.json"


def _terraform_evaluates(tmp_path: Path, expression: str) -> Any:
    """``expression`` as Terraform evaluates it in a copy of infra/ (with the generated tfvars)."""
    work = initialised_copy(tmp_path / "infra")
    result = subprocess.run(
        ["terraform", "console", "-no-color"],
        cwd=work,
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.skipif(missing_tooling() is not None, reason=str(missing_tooling()))
def test_terraform_is_given_the_queues_and_tables_the_local_stack_provisions(
    tmp_path: Path, provisioned: Any
) -> None:
    # GIVEN the queues and tables as Terraform itself evaluates them from the generated inputs
    evaluated = _terraform_evaluates(tmp_path, "{ queues = local.queues, tables = local.tables }")
    sqs, dynamodb = provisioned.client("sqs"), provisioned.client("dynamodb")
    # WHEN comparing them with what the local stack provisioned from the declarations
    for queue in evaluated["queues"].values():
        url = sqs.get_queue_url(QueueName=f"{PREFIX}-{queue['suffix']}")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        # THEN every queue Terraform creates exists locally with the same settings
        assert int(attrs["VisibilityTimeout"]) == queue["visibility_timeout_seconds"]
        assert (
            int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])
            == (queue["max_receive_count"])
        )
        assert int(attrs["MessageRetentionPeriod"]) == queue["message_retention_seconds"]
    # AND every table Terraform creates exists locally with the same keys
    assert {f"{PREFIX}-{t['suffix']}" for t in evaluated["tables"].values()} == set(
        dynamodb.list_tables()["TableNames"]
    )
    for table in evaluated["tables"].values():
        described = dynamodb.describe_table(TableName=f"{PREFIX}-{table['suffix']}")["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in described["KeySchema"]}
        assert (keys.get("HASH"), keys.get("RANGE")) == (table["hash_key"], table["range_key"])
    # AND the subscribers' handlers are the ones the app registers
    assert {q["consumer"] for q in evaluated["queues"].values()} == {
        s.handler for s in resources.SUBSCRIBERS
    }
