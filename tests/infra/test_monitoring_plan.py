"""Every alarm the runbook documents exists in ``terraform plan`` of infra/.

The plan runs offline: the provider from the local mirror, its endpoints on
a moto server on loopback (only the caller identity is read from it).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tf_outputs_to_chalice import HANDLERS, STREAM_CONSUMERS

from chalicelib import resources
from chalicelib.adapters import observability
from local_aws.terraform_cli import PlannedResource, missing_tooling, show_plan
from local_aws.terraform_cli import terraform as run_terraform
from tests.infra import hcl, terraform

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_tooling() is not None, reason=str(missing_tooling())),
]
PREFIX = "evp"
APP = "event-platform"
STAGE = "dev"


@pytest.fixture(scope="module")
def planned(
    moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, PlannedResource]:
    """GIVEN ``terraform plan`` of a copy of infra/ against moto; the planned resources."""
    work = terraform.initialised_copy(tmp_path_factory.mktemp("plan") / "infra", moto_endpoint)
    run_terraform(
        [
            "plan",
            "-input=false",
            "-no-color",
            "-out=tfplan",
            f"-var=name_prefix={PREFIX}",
            f"-var=chalice_app_name={APP}",
            f"-var=chalice_stage={STAGE}",
            # The documented apply names the sender of the subscribers that send email.
            "-var=email_sender=no-reply@example.com",
        ],
        work,
    )
    return {r.address: r for r in show_plan(work / "tfplan", work)}


def _alarms(planned: dict[str, PlannedResource]) -> dict[str, dict[str, Any]]:
    return {
        r.after["alarm_name"]: r.after
        for r in planned.values()
        if r.type == "aws_cloudwatch_metric_alarm"
    }


def test_every_documented_alarm_is_planned(planned: dict[str, PlannedResource]) -> None:
    # WHEN listing the planned alarms
    alarms = _alarms(planned)
    # THEN each failure queue, stream reader, function, delivery and the API has its alarm
    failure_queues = [resources.resource_name(PREFIX, q.dlq_suffix) for q in resources.QUEUES]
    failure_queues.append(resources.resource_name(PREFIX, resources.STREAM_FAILURE_QUEUE))
    failure_queues.append(
        resources.resource_name(PREFIX, resources.SEARCH_LATE_REDACTION.dlq_suffix)
    )
    watched = {a["dimensions"].get("QueueName") for a in alarms.values()}
    assert set(failure_queues) <= watched
    expected = {f"{PREFIX}-event-stream-iterator-age", f"{PREFIX}-api-5xx"}
    expected |= {f"{PREFIX}-{h}-iterator-age" for h in STREAM_CONSUMERS}
    expected |= {f"{PREFIX}-{h}-{kind}" for h in HANDLERS for kind in ("errors", "throttles")}
    expected |= {f"{PREFIX}-archive-delivery-to-s3", f"{PREFIX}-search-delivery-to-opensearch"}
    assert expected <= set(alarms)
    # AND every alarm notifies the encrypted alarm topic, on ALARM and on OK
    topic = planned["aws_sns_topic.alarms"].after
    assert topic["name"] == f"{PREFIX}-alarms"
    # (the topic's ARN is only known after apply: read the configuration for the actions)
    monitoring = hcl.module("modules/monitoring")
    for body in monitoring.resources["aws_cloudwatch_metric_alarm"].values():
        assert hcl.expression(hcl.attr(body, "alarm_actions")) == "local.alarm_actions"
        assert hcl.expression(hcl.attr(body, "ok_actions")) == "local.alarm_actions"
    assert monitoring.locals["alarm_actions"] == ["${var.alarm_topic_arn}"]
    root_topic = hcl.module("").resources["aws_sns_topic"]["alarms"]
    assert hcl.expression(hcl.attr(root_topic, "kms_master_key_id")) == (
        "module.key_alarms.key_arn"
    )
    assert all(a["treat_missing_data"] == "notBreaching" for a in alarms.values())


def test_function_alarms_watch_the_functions_chalice_deploys(
    planned: dict[str, PlannedResource],
) -> None:
    alarms = _alarms(planned)
    for handler in HANDLERS:
        alarm = alarms[f"{PREFIX}-{handler}-errors"]
        # Chalice names the API's function <app>-<stage>, the others <app>-<stage>-<handler>
        function = f"{APP}-{STAGE}" if handler == "api_handler" else f"{APP}-{STAGE}-{handler}"
        assert alarm["dimensions"] == {"FunctionName": function}


def test_the_dashboard_reads_the_handlers_metric_namespace(
    planned: dict[str, PlannedResource],
) -> None:
    (dashboard,) = [r for r in planned.values() if r.type == "aws_cloudwatch_dashboard"]
    body = dashboard.after["dashboard_body"]
    assert re.search(rf"\b{observability.NAMESPACE}\b", body)
    assert "ProjectorLag" in body
