"""local_aws.terraform_cli: reading terraform's plan and graph, and finding the mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_aws import terraform_cli

STREAM = "module.archive.aws_kinesis_firehose_delivery_stream.search"
ALARM = "module.alarms.aws_cloudwatch_metric_alarm.search"
PAGE = "module.alarms.aws_sns_topic_subscription.page"
DOT = f"""digraph G {{
  rankdir = "RL";
  "{STREAM}" [label="x"];
  "{STREAM}" -> "module.archive.aws_iam_role_policy.search";
  "{ALARM}" -> "{STREAM}";
  "{PAGE}" -> "{ALARM}";
  "module.pubsub.aws_sqs_queue.queue" -> "module.key_pubsub.aws_kms_key.this";
}}
"""


def test_dependents_of_a_resource_include_everything_built_on_it() -> None:
    # GIVEN terraform graph output where an alarm (and its subscription) depend on a stream
    edges = terraform_cli.graph_edges(DOT)
    # WHEN closing the stream over its dependents
    closure = terraform_cli.dependents({STREAM}, edges)
    # THEN the alarm and its subscription are in, the stream's own dependencies and others out
    assert closure == {STREAM, ALARM, PAGE}


def test_instance_addresses_map_to_their_configuration() -> None:
    # GIVEN instance addresses with for_each / count keys
    # WHEN mapping them to configuration addresses
    # THEN the keys are dropped
    assert (
        terraform_cli.config_address('module.pubsub.aws_sqs_queue.queue["loyalty"]')
        == "module.pubsub.aws_sqs_queue.queue"
    )
    assert terraform_cli.config_address('module.m["a"].aws_x.y[0]') == "module.m.aws_x.y"


def test_planned_resources_keep_managed_changes_only() -> None:
    # GIVEN a `terraform show -json` plan with a data source and a managed resource
    plan = {
        "resource_changes": [
            {"address": "data.aws_region.current", "mode": "data", "type": "aws_region",
             "change": {"actions": ["read"], "after": {}}},
            {"address": 'aws_sqs_queue.q["a"]', "mode": "managed", "type": "aws_sqs_queue",
             "change": {"actions": ["create"], "after": {"name": "evp-a"}}},
        ]
    }  # fmt: skip
    # WHEN reading it
    resources = terraform_cli.planned_resources(plan)
    # THEN only the managed resource is kept, with its planned values
    assert [(r.config, r.actions, r.after["name"]) for r in resources] == [
        ("aws_sqs_queue.q", ("create",), "evp-a")
    ]


def test_missing_tooling_names_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN TF_PLUGIN_DIR pointing nowhere
    monkeypatch.setenv(terraform_cli.PLUGIN_DIR_ENV, str(tmp_path / "absent"))
    # WHEN asking what is missing
    reason = terraform_cli.missing_tooling()
    # THEN the reason names the mirror and where it was looked for
    assert reason is not None and str(tmp_path / "absent") in reason
    assert terraform_cli.PLUGIN_DIR_ENV in reason
