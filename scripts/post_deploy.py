"""Apply the event source mapping settings Chalice cannot express.

    python scripts/post_deploy.py [--stage dev] [--config chalice_app/.chalice/config.json]

Run after ``chalice deploy``. For the deployed functions <app>-<stage>-<handler>:

- SQS consumers (the subscribers and search_late_redaction):
  ``FunctionResponseTypes`` = chalicelib.resources.SQS_FUNCTION_RESPONSE_TYPES
  (``ReportBatchItemFailures``), so a handler returning
  ``{"batchItemFailures": [...]}`` (chalicelib.entrypoints.sqs_batch) retries only those
  messages.
- Kinesis / DynamoDB stream consumers (tf_outputs_to_chalice.STREAM_CONSUMERS:
  ledger_relay, user_events_fanout, projector, search_erasure):
  ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts``
  (chalicelib.resources.KINESIS_RETRY) and an on-failure destination (the
  stream-failures queue), so a poison record cannot block its shard.

Firehose processors (search_transform) have no event source mapping and are
left alone.

The REST API (from ``.chalice/deployed/<stage>.json``) gets the gateway
responses of chalicelib/entrypoints/gateway_responses.py (unknown routes 404, and every
answer API Gateway gives itself in the ``{"error","message","details"}``
shape), then a new deployment of its stage so they take effect. Then its
stage gets the rate limits Terraform declares (``.chalice/api-protection-<stage>.json``,
written by tf_outputs_to_chalice.py): the stage throttling (rate and burst, on
every method) and the association with the WAF web ACL (rate-based rules per
identity and per IP). Chalice owns the REST API and its stage, which exist
only after ``chalice deploy`` (after ``terraform apply``), and Chalice's
config has no throttling or WAF setting: so this step applies both, and
re-applies them after every deploy.

Idempotent. Prints one JSON summary line. Exit 0 on success, 1 when a function
has no event source mapping (deploy incomplete) or AWS refused, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tf_outputs_to_chalice import (  # noqa: E402
    SEARCH_LATE_REDACTION_HANDLER,
    SQS_CONSUMERS,
    STREAM_CONSUMERS,
    api_protection_file_name,
    help_description,
)

from chalicelib import resources  # noqa: E402
from chalicelib.entrypoints.gateway_responses import GATEWAY_RESPONSES  # noqa: E402

__all__ = [
    "ApiProtection",
    "apply_api_protection",
    "apply_gateway_responses",
    "desired_settings",
    "main",
    "read_api_protection",
    "stage_arn",
    "update_mappings",
]

DEFAULT_API_GATEWAY_STAGE = "api"  # Chalice's default api_gateway_stage
# The stage's method settings of every resource and method ("*/*").
THROTTLING_PATHS = {
    "rate_limit": "/*/*/throttling/rateLimit",
    "burst_limit": "/*/*/throttling/burstLimit",
}


class PostDeployError(Exception):
    """Input or deployment state that post_deploy cannot work with."""


def desired_settings(handler: str, failure_queue_arn: str) -> dict[str, Any]:
    """The mapping settings a handler's event source mappings must have."""
    if handler in SQS_CONSUMERS.values() or handler == SEARCH_LATE_REDACTION_HANDLER:
        return {"FunctionResponseTypes": list(resources.SQS_FUNCTION_RESPONSE_TYPES)}
    if handler in STREAM_CONSUMERS:
        return {
            "BisectBatchOnFunctionError": resources.KINESIS_RETRY.bisect_batch_on_function_error,
            "MaximumRetryAttempts": resources.KINESIS_RETRY.maximum_retry_attempts,
            "DestinationConfig": {"OnFailure": {"Destination": failure_queue_arn}},
        }
    raise PostDeployError(f"{handler} has no event source mapping settings")


def _differs(mapping: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        current = mapping.get(key)
        if key == "DestinationConfig":
            current = (current or {}).get("OnFailure", {}).get("Destination")
            value = value["OnFailure"]["Destination"]
        if current != value:
            return True
    return False


def _mappings(lambda_client: Any, function_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate(
        FunctionName=function_name
    ):
        found.extend(page["EventSourceMappings"])
    return found


def update_mappings(
    lambda_client: Any, function_prefix: str, failure_queue_arn: str
) -> dict[str, list[str]]:
    """Bring every consumer's mappings to the desired settings; returns UUIDs by outcome."""
    summary: dict[str, list[str]] = {"updated": [], "unchanged": [], "missing": []}
    for handler in (*STREAM_CONSUMERS, *SQS_CONSUMERS.values(), SEARCH_LATE_REDACTION_HANDLER):
        function_name = f"{function_prefix}-{handler}"
        mappings = _mappings(lambda_client, function_name)
        if not mappings:
            summary["missing"].append(function_name)
            continue
        wanted = desired_settings(handler, failure_queue_arn)
        for mapping in mappings:
            if _differs(mapping, wanted):
                lambda_client.update_event_source_mapping(UUID=mapping["UUID"], **wanted)
                summary["updated"].append(mapping["UUID"])
            else:
                summary["unchanged"].append(mapping["UUID"])
    return summary


def apply_gateway_responses(apigateway: Any, rest_api_id: str, api_stage: str) -> list[str]:
    """Put every declared gateway response and redeploy ``api_stage``; returns the types."""
    for response_type, response in GATEWAY_RESPONSES.items():
        settings: dict[str, Any] = {
            "restApiId": rest_api_id,
            "responseType": response_type,
            "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"},
            "responseTemplates": {"application/json": response.template()},
        }
        if response.status_code is not None:
            settings["statusCode"] = str(response.status_code)
        apigateway.put_gateway_response(**settings)
    apigateway.create_deployment(
        restApiId=rest_api_id, stageName=api_stage, description="post_deploy gateway responses"
    )
    return sorted(GATEWAY_RESPONSES)


@dataclass(frozen=True)
class ApiProtection:
    """The rate limits of the API's stage, as Terraform declares them (outputs
    ``api_throttling`` and ``api_web_acl_arn``)."""

    rate_limit: float
    burst_limit: int
    web_acl_arn: str


def read_api_protection(config_path: Path, stage: str) -> ApiProtection:
    """The stage's rate limits handed over from Terraform; PostDeployError if absent."""
    path = config_path.parent / api_protection_file_name(stage)
    try:
        document = json.loads(path.read_text())
        return ApiProtection(
            rate_limit=float(document["throttling"]["rate_limit"]),
            burst_limit=int(document["throttling"]["burst_limit"]),
            web_acl_arn=str(document["web_acl_arn"]),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise PostDeployError(
            f"cannot read the API's rate limits from {path} ({exc!r}); "
            "run scripts/tf_outputs_to_chalice.py first"
        ) from exc


def stage_arn(region: str, rest_api_id: str, api_stage: str) -> str:
    """The ARN WAF knows an API Gateway REST API stage by."""
    return f"arn:aws:apigateway:{region}::/restapis/{rest_api_id}/stages/{api_stage}"


def apply_api_protection(
    apigateway: Any, wafv2: Any, rest_api_id: str, api_stage: str, protection: ApiProtection
) -> dict[str, Any]:
    """Throttle every method of the stage and associate the web ACL with it (idempotent)."""
    values = {"rate_limit": protection.rate_limit, "burst_limit": protection.burst_limit}
    apigateway.update_stage(
        restApiId=rest_api_id,
        stageName=api_stage,
        patchOperations=[
            {"op": "replace", "path": THROTTLING_PATHS[name], "value": str(value)}
            for name, value in values.items()
        ],
    )
    resource_arn = stage_arn(apigateway.meta.region_name, rest_api_id, api_stage)
    current = wafv2.get_web_acl_for_resource(ResourceArn=resource_arn).get("WebACL") or {}
    if current.get("ARN") == protection.web_acl_arn:
        association = "unchanged"
    else:
        wafv2.associate_web_acl(WebACLArn=protection.web_acl_arn, ResourceArn=resource_arn)
        association = "associated"
    return {"throttling": values, "web_acl": protection.web_acl_arn, "association": association}


def rest_api(config_path: Path, stage: str) -> tuple[str, str]:
    """The deployed REST API id and its API Gateway stage name."""
    deployed = config_path.parent / "deployed" / f"{stage}.json"
    try:
        record = json.loads(deployed.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PostDeployError(
            f"cannot read {deployed} ({exc}); did `chalice deploy --stage {stage}` finish?"
        ) from exc
    resources_ = record.get("resources", [])
    ids = [r["rest_api_id"] for r in resources_ if r.get("resource_type") == "rest_api"]
    if not ids:
        raise PostDeployError(f"{deployed} records no REST API")
    config = json.loads(config_path.read_text())
    api_stage = config.get("stages", {}).get(stage, {}).get("api_gateway_stage") or config.get(
        "api_gateway_stage", DEFAULT_API_GATEWAY_STAGE
    )
    return str(ids[0]), str(api_stage)


def _stage_settings(config_path: Path, stage: str) -> tuple[str, str]:
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PostDeployError(f"cannot read Chalice config {config_path}: {exc}") from exc
    env = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    queue = env.get(resources.STREAM_FAILURE_QUEUE_ENV_VAR)
    if not queue:
        raise PostDeployError(
            f"stage {stage!r} in {config_path} has no {resources.STREAM_FAILURE_QUEUE_ENV_VAR}; "
            "run scripts/tf_outputs_to_chalice.py first"
        )
    return f"{config['app_name']}-{stage}", queue


def _parser() -> argparse.ArgumentParser:
    responses = "\n".join(
        f"  {name:<29} {r.status_code or 'its own status'} {r.code}"
        for name, r in GATEWAY_RESPONSES.items()
    )
    parser = argparse.ArgumentParser(
        description=help_description(__doc__),
        epilog=f"gateway responses it installs (type, status, error code):\n{responses}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stage", default="dev", help="the Chalice stage that was deployed (default: dev)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT.parent / "chalice_app" / ".chalice" / "config.json",
        help="the Chalice config naming the stage's functions and queues "
        "(default: chalice_app/.chalice/config.json; its deployed/<stage>.json names the API)",
    )
    parser.add_argument(
        "--region", default=None, help="AWS region (default: the environment's or profile's)"
    )
    return parser


def main(argv: Sequence[str] | None = None, session: boto3.session.Session | None = None) -> int:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
    session = session or boto3.session.Session(region_name=args.region)
    try:
        function_prefix, queue_name = _stage_settings(args.config, args.stage)
        sqs = session.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        summary: dict[str, Any] = dict(
            update_mappings(session.client("lambda"), function_prefix, queue_arn)
        )
        rest_api_id, api_stage = rest_api(args.config, args.stage)
        protection = read_api_protection(args.config, args.stage)
        apigateway = session.client("apigateway")
        summary["gateway_responses"] = apply_gateway_responses(apigateway, rest_api_id, api_stage)
        summary["api_protection"] = apply_api_protection(
            apigateway, session.client("wafv2"), rest_api_id, api_stage, protection
        )
    except PostDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # botocore errors: report in one line
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    if summary["missing"]:
        print(
            f"error: no event source mapping for {', '.join(summary['missing'])}; "
            "did `chalice deploy` finish?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
