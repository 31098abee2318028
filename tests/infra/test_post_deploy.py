"""scripts/post_deploy.py against event source mappings in moto."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import post_deploy
import pytest
from tf_outputs_to_chalice import SQS_CONSUMERS, STREAM_CONSUMERS

from chalicelib import resources
from local_aws.moto_patches import apply_all

PREFIX = "event-platform-dev"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture(params=["arn", "name"], ids=["mappings-by-arn", "mappings-by-name"])
def deployed(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    session: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """GIVEN the Chalice functions deployed in moto with the mappings Chalice creates.

    Chalice creates mappings with the function ARN; AWS lists them by name too,
    moto only once patched (local_aws.moto_patches).
    """
    apply_all(lambda owner, attr, value: monkeypatch.setattr(owner, attr, value, raising=False))
    iam, lam = session.client("iam"), session.client("lambda")
    sqs, kinesis, dynamodb = (
        session.client("sqs"),
        session.client("kinesis"),
        session.client("dynamodb"),
    )
    role = iam.create_role(
        RoleName="lambda", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    code = _zip()

    def function(handler: str) -> str:
        name = f"{PREFIX}-{handler}"
        arn = lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code},
        )["FunctionArn"]
        return str(arn) if request.param == "arn" else name

    def queue_arn(name: str) -> str:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    failure_arn = queue_arn("evp-stream-failures")
    kinesis.create_stream(StreamName="evp-events", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="evp-events")[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    ledger_stream = dynamodb.create_table(
        TableName="evp-ledger",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    mappings: dict[str, str] = {}
    sources = {
        "ledger_relay": ledger_stream,
        "user_events_fanout": stream_arn,
        "projector": stream_arn,
        "search_erasure": stream_arn,
    }
    for handler, source in sources.items():
        mappings[handler] = lam.create_event_source_mapping(
            FunctionName=function(handler),
            EventSourceArn=source,
            StartingPosition="TRIM_HORIZON",
            BatchSize=100,
        )["UUID"]
    for queue in resources.QUEUES:
        handler = SQS_CONSUMERS[queue.key]
        mappings[handler] = lam.create_event_source_mapping(
            FunctionName=function(handler),
            EventSourceArn=queue_arn(f"evp-{queue.suffix}"),
            BatchSize=queue.batch_size,
        )["UUID"]
    late = resources.SEARCH_LATE_REDACTION
    mappings[late.handler] = lam.create_event_source_mapping(
        FunctionName=function(late.handler),
        EventSourceArn=queue_arn(f"evp-{late.suffix}"),
        BatchSize=late.batch_size,
    )["UUID"]
    # Firehose invokes the transformation directly: a function with no mapping.
    function("search_transform")
    apigateway = session.client("apigateway")
    rest_api_id = apigateway.create_rest_api(name="event-platform")["id"]
    root = apigateway.get_resources(restApiId=rest_api_id)["items"][0]["id"]
    apigateway.put_method(
        restApiId=rest_api_id, resourceId=root, httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=rest_api_id, resourceId=root, httpMethod="GET", type="MOCK"
    )
    (tmp_path / "deployed").mkdir()
    (tmp_path / "deployed" / "dev.json").write_text(
        json.dumps({"resources": [{"resource_type": "rest_api", "rest_api_id": rest_api_id}]})
    )
    web_acl = session.client("wafv2").create_web_acl(
        Name="evp-api",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "evp-api",
        },
    )["Summary"]
    (tmp_path / "api-protection-dev.json").write_text(
        json.dumps(
            {"throttling": {"rate_limit": 25, "burst_limit": 40}, "web_acl_arn": web_acl["ARN"]}
        )
    )
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "app_name": "event-platform",
                "stages": {
                    "dev": {
                        "environment_variables": {
                            resources.STREAM_FAILURE_QUEUE_ENV_VAR: "evp-stream-failures"
                        }
                    }
                },
            }
        )
    )
    yield {
        "lambda": lam,
        "mappings": mappings,
        "config": config,
        "failure_arn": failure_arn,
        "session": session,
        "rest_api_id": rest_api_id,
        "web_acl_arn": web_acl["ARN"],
    }


def test_stream_mappings_get_bisect_retries_and_on_failure_destination(
    deployed: dict[str, Any],
) -> None:
    # WHEN post_deploy runs for the dev stage
    code = post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    # THEN every Kinesis / DynamoDB stream mapping bisects, retries N times, then goes to the queue
    assert code == 0
    for handler in STREAM_CONSUMERS:
        mapping = deployed["lambda"].get_event_source_mapping(UUID=deployed["mappings"][handler])
        assert mapping["BisectBatchOnFunctionError"] is True, handler
        assert mapping["MaximumRetryAttempts"] == resources.KINESIS_RETRY.maximum_retry_attempts
        assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == deployed["failure_arn"]
        assert not mapping.get("FunctionResponseTypes"), handler


def test_search_erasure_gets_the_stream_consumer_settings(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the search erasure consumer's mapping as Chalice creates it (no retry settings)
    before = deployed["lambda"].get_event_source_mapping(
        UUID=deployed["mappings"]["search_erasure"]
    )
    assert not before.get("DestinationConfig", {}).get("OnFailure")
    # WHEN post_deploy runs for the dev stage
    code = post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    mapping = deployed["lambda"].get_event_source_mapping(
        UUID=deployed["mappings"]["search_erasure"]
    )
    # THEN it bisects, retries like the other stream consumers and fails over to the queue
    assert code == 0
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == resources.KINESIS_RETRY.maximum_retry_attempts
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == deployed["failure_arn"]
    assert deployed["mappings"]["search_erasure"] in summary["updated"]
    # AND the Firehose transformation, which has no mapping, is not reported missing
    assert summary["missing"] == []


def test_sqs_mappings_report_batch_item_failures(deployed: dict[str, Any]) -> None:
    # WHEN post_deploy runs for the dev stage
    post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    # THEN every SQS mapping, the late redaction's too, reports per-message failures,
    # and gets no stream settings
    for handler in (*SQS_CONSUMERS.values(), resources.SEARCH_LATE_REDACTION.handler):
        mapping = deployed["lambda"].get_event_source_mapping(UUID=deployed["mappings"][handler])
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], handler
        assert not mapping.get("DestinationConfig"), handler


def test_an_undeclared_handler_gets_no_mapping_settings() -> None:
    # WHEN asking which mapping settings post_deploy (and the rehearsal) want for a
    # handler nobody declared
    # THEN it is refused
    with pytest.raises(post_deploy.PostDeployError):
        post_deploy.desired_settings("undeclared", "arn:aws:sqs:eu-west-1:1:failures")


def test_second_run_changes_nothing(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN post_deploy already ran
    args = ["--stage", "dev", "--config", str(deployed["config"])]
    post_deploy.main(args, session=deployed["session"])
    capsys.readouterr()
    # WHEN it runs again
    code = post_deploy.main(args, session=deployed["session"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN it reports every mapping unchanged
    assert code == 0
    assert summary["updated"] == []
    assert sorted(summary["unchanged"]) == sorted(deployed["mappings"].values())


def test_function_without_mapping_fails_the_step(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the projector's mapping is missing (deploy incomplete)
    deployed["lambda"].delete_event_source_mapping(UUID=deployed["mappings"]["projector"])
    # WHEN post_deploy runs
    code = post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    # THEN it exits 1 naming the function
    assert code == 1
    assert f"{PREFIX}-projector" in capsys.readouterr().err


def test_stage_without_handoff_is_a_clear_error(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN post_deploy runs for a stage tf_outputs_to_chalice.py never wrote
    code = post_deploy.main(
        ["--stage", "prod", "--config", str(deployed["config"])], session=deployed["session"]
    )
    # THEN it exits 2 and points at the hand-off script
    assert code == 2
    assert "tf_outputs_to_chalice.py" in capsys.readouterr().err


def test_gateway_responses_answer_in_the_documented_shape(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN post_deploy runs after chalice deploy
    code = post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN the REST API answers unknown routes 404 and its own errors in the error shape
    assert code == 0
    apigateway = deployed["session"].client("apigateway")
    items = {
        item["responseType"]: item
        for item in apigateway.get_gateway_responses(restApiId=deployed["rest_api_id"])["items"]
    }
    assert summary["gateway_responses"] == sorted(items)
    missing = items["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    body = json.loads(missing["responseTemplates"]["application/json"])
    assert body == {"error": "not_found", "message": "no such route", "details": []}
    assert items["DEFAULT_5XX"]["responseTemplates"]["application/json"].startswith(
        '{"error":"internal_error"'
    )
    # AND the stage was redeployed so they take effect
    assert apigateway.get_deployments(restApiId=deployed["rest_api_id"])["items"]


def test_missing_deployment_record_is_a_clear_error(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (deployed["config"].parent / "deployed" / "dev.json").unlink()
    code = post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    assert code == 2
    assert "chalice deploy" in capsys.readouterr().err


def test_the_stage_is_throttled_and_guarded_by_the_web_acl(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the rate limits Terraform handed over (rate 25/s, burst 40, the web ACL)
    args = ["--stage", "dev", "--config", str(deployed["config"])]
    # WHEN post_deploy runs after chalice deploy, twice
    first = post_deploy.main(args, session=deployed["session"])
    first_summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    second = post_deploy.main(args, session=deployed["session"])
    second_summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN every method of the API's stage is throttled at that rate and burst
    assert first == second == 0
    apigateway = deployed["session"].client("apigateway")
    stage = apigateway.get_stage(restApiId=deployed["rest_api_id"], stageName="api")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 25.0
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 40
    # AND the web ACL guards the stage, associated once
    arn = post_deploy.stage_arn("eu-west-1", deployed["rest_api_id"], "api")
    acl = deployed["session"].client("wafv2").get_web_acl_for_resource(ResourceArn=arn)
    assert acl["WebACL"]["ARN"] == deployed["web_acl_arn"]
    assert first_summary["api_protection"]["association"] == "associated"
    assert second_summary["api_protection"]["association"] == "unchanged"


def test_stage_without_rate_limits_is_a_clear_error(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a hand-off written before the rate limits existed
    (deployed["config"].parent / "api-protection-dev.json").unlink()
    # WHEN post_deploy runs
    code = post_deploy.main(
        ["--stage", "dev", "--config", str(deployed["config"])], session=deployed["session"]
    )
    # THEN it exits 2 and points at the hand-off script
    assert code == 2
    assert "tf_outputs_to_chalice.py" in capsys.readouterr().err
