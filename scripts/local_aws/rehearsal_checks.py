"""What a deployment must have created, read back from the AWS control plane.

Expectations come from Terraform's outputs and the Chalice app object (its
routes and event sources), never from lists kept here. Each check returns the
problems it found (empty when it held).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalice import Chalice
from chalice.app import DynamoDBEventConfig, KinesisEventConfig, SQSEventConfig

from chalicelib.entrypoints.gateway_responses import GATEWAY_RESPONSES

__all__ = [
    "check_api",
    "check_api_protection",
    "check_functions",
    "check_mappings",
    "mapping_sources",
]

StreamSource = KinesisEventConfig | DynamoDBEventConfig
Source = SQSEventConfig | StreamSource


def _policy(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) else raw


def check_functions(
    lambda_client: Any,
    iam_client: Any,
    function_names: Mapping[str, str],
    environment: Mapping[str, str],
    policies: Mapping[str, Any],
) -> list[str]:
    """Every function exists with ``environment`` and its role holds exactly its policy."""
    problems: list[str] = []
    for handler, name in sorted(function_names.items()):
        try:
            config = lambda_client.get_function_configuration(FunctionName=name)
        except lambda_client.exceptions.ResourceNotFoundException:
            problems.append(f"function {name} does not exist")
            continue
        env = config.get("Environment", {}).get("Variables", {})
        wrong = sorted(k for k, v in environment.items() if env.get(k) != v)
        if wrong:
            problems.append(f"{name}: environment differs from terraform's for {wrong}")
        role = config["Role"].rsplit("/", 1)[-1]
        documents = [
            _policy(iam_client.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
            for policy in iam_client.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        if documents != [_policy(policies[handler])]:
            problems.append(f"{name}: role {role} policies are not terraform's lambda_iam_policies")
    return problems


def mapping_sources(app: Chalice) -> list[Source]:
    """The app's event sources that become event source mappings."""
    return [
        source
        for source in app.event_sources
        if isinstance(source, SQSEventConfig | KinesisEventConfig | DynamoDBEventConfig)
    ]


def _differences(mapping: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    wrong = []
    for key, value in wanted.items():
        current = mapping.get(key)
        if key == "DestinationConfig":
            current = (current or {}).get("OnFailure", {}).get("Destination")
            value = value["OnFailure"]["Destination"]
        if current != value:
            wrong.append(f"{key}={current!r} (want {value!r})")
    return wrong


def check_mappings(
    lambda_client: Any,
    app: Chalice,
    function_prefix: str,
    post_deploy_settings: Mapping[str, Mapping[str, Any]],
) -> tuple[int, list[str]]:
    """Every event source of the app has one mapping with the app's and post_deploy's settings.

    Returns the number of mappings found and the problems.
    """
    problems: list[str] = []
    found = 0
    for source in mapping_sources(app):
        name = f"{function_prefix}-{source.name}"
        mappings = lambda_client.list_event_source_mappings(FunctionName=name)
        mappings = mappings["EventSourceMappings"]
        found += len(mappings)
        if len(mappings) != 1:
            problems.append(f"{name}: {len(mappings)} event source mappings, want 1")
            continue
        mapping = mappings[0]
        wanted: dict[str, Any] = {
            "BatchSize": source.batch_size,
            "MaximumBatchingWindowInSeconds": source.maximum_batching_window_in_seconds,
            **post_deploy_settings[source.name],
        }
        if isinstance(source, SQSEventConfig):
            if source.maximum_concurrency is not None:
                concurrency = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
                if concurrency != source.maximum_concurrency:
                    problems.append(
                        f"{name}: MaximumConcurrency={concurrency!r} "
                        f"(want {source.maximum_concurrency!r})"
                    )
            if not mapping["EventSourceArn"].endswith(f":{source.queue}"):
                problems.append(f"{name}: reads {mapping['EventSourceArn']}, not {source.queue}")
        problems.extend(f"{name}: {wrong}" for wrong in _differences(mapping, wanted))
    total = len(lambda_client.list_event_source_mappings()["EventSourceMappings"])
    if total != found:
        problems.append(f"{total} event source mappings exist, the app declares {found}")
    return found, problems


def check_api(apigateway_client: Any, app: Chalice) -> tuple[int, list[str]]:
    """One REST API named after the app, with every route and method of the app.

    Returns the number of routes checked and the problems.
    """
    apis = [a for a in apigateway_client.get_rest_apis()["items"] if a["name"] == app.app_name]
    if len(apis) != 1:
        return 0, [f"{len(apis)} REST APIs named {app.app_name}, want 1"]
    resources = apigateway_client.get_resources(restApiId=apis[0]["id"], limit=500)["items"]
    methods = {r["path"]: set(r.get("resourceMethods", {})) for r in resources}
    problems = []
    for path, entries in sorted(app.routes.items()):
        missing = sorted(set(entries) - methods.get(path, set()))
        if missing:
            problems.append(f"API route {path} lacks {missing}")
    return len(app.routes), problems


def _rate_rules(web_acl: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The web ACL's rate-based rules by what they count: ``header:<name>`` or ``IP``."""
    rules: dict[str, dict[str, Any]] = {}
    for rule in web_acl.get("Rules", []):
        statement = rule.get("Statement", {}).get("RateBasedStatement")
        if not statement:
            continue
        keys = [
            f"header:{key['Header']['Name'].lower()}"
            for key in statement.get("CustomKeys", [])
            if "Header" in key
        ]
        block = rule.get("Action", {}).get("Block")
        entry = {
            "rule": rule["Name"],
            "limit": statement["Limit"],
            "blocks": block is not None,
            "status": (block or {}).get("CustomResponse", {}).get("ResponseCode"),
        }
        for key in keys or [statement["AggregateKeyType"]]:
            rules[key] = entry
    return rules


def check_api_protection(
    apigateway_client: Any,
    wafv2_client: Any,
    app: Chalice,
    api_stage: str,
    throttling: Mapping[str, Any],
    web_acl_arn: str,
) -> tuple[dict[str, Any], list[str]]:
    """The API's stage is throttled as Terraform says and guarded by its web ACL, whose
    rate-based rules count per identity (the Authorization header) and per IP.

    Returns what was found (for the summary) and the problems.
    """
    apis = [a for a in apigateway_client.get_rest_apis()["items"] if a["name"] == app.app_name]
    if len(apis) != 1:
        return {}, [f"{len(apis)} REST APIs named {app.app_name}, want 1"]
    stage = apigateway_client.get_stage(restApiId=apis[0]["id"], stageName=api_stage)
    every_method = stage.get("methodSettings", {}).get("*/*", {})
    found_throttling = {
        "rate_limit": every_method.get("throttlingRateLimit"),
        "burst_limit": every_method.get("throttlingBurstLimit"),
    }
    problems = []
    if found_throttling != {k: throttling[k] for k in ("rate_limit", "burst_limit")}:
        problems.append(f"stage {api_stage} throttling {found_throttling}, want {throttling}")
    resource_arn = (
        f"arn:aws:apigateway:{apigateway_client.meta.region_name}::"
        f"/restapis/{apis[0]['id']}/stages/{api_stage}"
    )
    associated = (wafv2_client.get_web_acl_for_resource(ResourceArn=resource_arn) or {}).get(
        "WebACL"
    ) or {}
    if associated.get("ARN") != web_acl_arn:
        problems.append(f"stage {api_stage} web ACL {associated.get('ARN')}, want {web_acl_arn}")
    rules = _rate_rules(associated)
    throttled = GATEWAY_RESPONSES["THROTTLED"].status_code
    for key in ("header:authorization", "IP"):
        if not rules.get(key, {}).get("blocks"):
            problems.append(f"web ACL has no blocking rate-based rule keyed on {key}")
        elif rules[key]["status"] != throttled:
            problems.append(f"rate rule on {key} answers {rules[key]['status']}, not {throttled}")
    found = {
        "throttling": found_throttling,
        "web_acl": {"arn": associated.get("ARN"), "rate_rules": rules},
    }
    return found, problems
