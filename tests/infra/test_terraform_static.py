"""Static checks of infra/: HCL parses, module layout, checkov, terraform fmt/validate."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tf_outputs_to_chalice import STREAM_CONSUMERS

from chalicelib.adapters.observability import NAMESPACE
from local_aws.terraform_cli import missing_tooling, provider_mirror
from tests.infra import hcl, terraform

TF_FILES = sorted(hcl.INFRA.rglob("*.tf"))
MODULE_DIRS = sorted(p for p in (hcl.INFRA / "modules").iterdir() if p.is_dir())
CHECKOV = Path(sys.executable).with_name("checkov")
PLUGIN_DIR = provider_mirror()


def test_infra_has_a_root_module_and_modules() -> None:
    # GIVEN the infra/ tree
    # WHEN listing it
    # THEN there is a root module plus the state/event_log/pubsub/archive/search/iam modules
    assert (hcl.INFRA / "main.tf").is_file()
    assert {p.name for p in MODULE_DIRS} >= {
        "state",
        "event_log",
        "pubsub",
        "archive",
        "search",
        "iam",
        "kms_key",
    }


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(hcl.INFRA)))
def test_every_tf_file_parses(path: Path) -> None:
    # GIVEN a .tf file under infra/
    # WHEN python-hcl2 parses it
    parsed = hcl.parse_file(path)
    # THEN it yields at least one top-level block
    assert parsed


def test_local_provider_override_example_parses_and_points_at_the_local_stack() -> None:
    # GIVEN the documented local provider override
    path = hcl.INFRA / "local" / "provider_override.tf.example"
    # WHEN parsing it
    parsed = hcl.parse_file(path)
    provider = parsed["provider"][0]
    body = provider.get("aws") or provider.get('"aws"')
    endpoints = hcl.attr(hcl.blocks(body, "endpoints")[0], "dynamodb")
    # THEN every AWS call goes to the moto server on 127.0.0.1:5000
    assert endpoints == "http://127.0.0.1:5000"
    assert hcl.attr(body, "skip_credentials_validation") is True


def test_local_provider_override_covers_every_service_infra_uses() -> None:
    # GIVEN the AWS resource and data types infra/ uses
    services_of_type = {
        "dynamodb": "dynamodb",
        "kinesis_stream": "kinesis",
        "kinesis_firehose": "firehose",
        "sns": "sns",
        "sqs": "sqs",
        "s3": "s3",
        "kms": "kms",
        "iam_role": "iam",
        "iam_role_policy": "iam",
        "iam_session_context": "iam",
        "cloudwatch_log": "logs",
        "cloudwatch_metric_alarm": "cloudwatch",
        "cloudwatch_dashboard": "cloudwatch",
        "opensearch": "opensearch",
        "caller_identity": "sts",
        "cognito": "cognitoidp",
        "wafv2": "wafv2",
    }
    used: set[str] = set()
    for directory in [hcl.INFRA, *MODULE_DIRS]:
        module = hcl.module(str(directory.relative_to(hcl.INFRA)) if directory != hcl.INFRA else "")
        for rtype in [*module.resources, *module.data]:
            short = rtype.removeprefix("aws_")
            used |= {svc for prefix, svc in services_of_type.items() if short.startswith(prefix)}
    text = (hcl.INFRA / "local" / "provider_override.tf.example").read_text()
    endpoints_block = text[text.index("endpoints {") :]
    # WHEN reading the override's endpoints block
    configured = set(
        re.findall(r"^\s*(\w+)\s*=\s*\"http://127\.0\.0\.1:5000\"", endpoints_block, re.M)
    )
    # THEN every service in use has an endpoint
    assert used, "no AWS resource types found"
    assert used <= configured, f"endpoints missing for {sorted(used - configured)}"


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda p: p.name)
def test_every_module_has_the_standard_files_and_documented_interface(directory: Path) -> None:
    # GIVEN a module directory
    module = hcl.module(str(directory.relative_to(hcl.INFRA)))
    # WHEN inspecting its files, variables and outputs
    missing = [
        f
        for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
        if not (directory / f).is_file()
    ]
    undocumented = [
        n for n, b in module.variables.items() if "description" not in b or "type" not in b
    ]
    undescribed_outputs = [n for n, b in module.outputs.items() if "description" not in b]
    # THEN the layout is complete and every input/output is typed and described
    assert not missing
    assert not undocumented
    assert not undescribed_outputs
    assert module.outputs


def test_root_variables_are_typed_described_and_validated_where_ranges_are_known() -> None:
    # GIVEN the root module's variables
    root = hcl.module()
    # WHEN inspecting them
    untyped = [n for n, b in root.variables.items() if "type" not in b or "description" not in b]
    retention = hcl.blocks(root.variables["stream_retention_hours"], "validation")
    condition = hcl.attr(retention[0], "condition") if retention else ""
    # THEN all are typed and described, and the stream retention is checked against 24..8760
    assert not untyped
    assert "24" in condition and "8760" in condition


def test_versions_pin_terraform_and_the_aws_provider() -> None:
    # GIVEN every versions.tf
    for path in hcl.INFRA.rglob("versions.tf"):
        terraform = hcl.parse_file(path)["terraform"][0]
        # WHEN reading the constraints
        aws = hcl.attr(hcl.blocks(terraform, "required_providers")[0], "aws")
        # THEN terraform >= 1.5 and hashicorp/aws ~> 5.x are required
        assert hcl.attr(terraform, "required_version") == ">= 1.5", path
        assert aws["source"] == "hashicorp/aws", path
        assert re.fullmatch(r"~> 5\.\d+", aws["version"]), path


PLATFORM_HANDLERS = {
    "api_handler",
    "ledger_relay",
    "user_events_fanout",
    "projector",
    "search_erasure",
    "search_late_redaction",
    "search_transform",
    "replay_worker",
}
# What the root module hands the iam module: handler -> queue, table, needs.
SUBSCRIBERS = {
    s["handler"]: {"queue": key, "table": s["table_key"], "needs": s["needs"]}
    for key, s in hcl.subscribers().items()
}
HANDLERS = PLATFORM_HANDLERS | set(SUBSCRIBERS)


XRAY_WRITE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _rendered(value: Any, each_key: str, each: dict[str, Any]) -> Any:
    """``each.key`` / ``each.value.<field>`` substituted, as Terraform renders one instance."""
    if isinstance(value, list):
        return [_rendered(v, each_key, each) for v in value]
    if not isinstance(value, str):
        return value
    value = value.replace("each.key", f'"{each_key}"')
    return re.sub(r"each\.value\.(\w+)", lambda m: f'"{each[m.group(1)]}"', value)


def _policy_statements(iam: hcl.Module) -> dict[str, list[dict[str, Any]]]:
    """Every handler's policy statements: for_each documents expanded per handler and
    ``source_policy_documents`` merged in (the conditional one only where it holds)."""
    documents = iam.data["aws_iam_policy_document"]

    def statements(name: str, each_key: str = "", each: dict[str, Any] | None = None) -> list:
        body = documents[name]
        each = each or {}
        sources = str(hcl.attr(body, "source_policy_documents", []))
        # Conditional sources: `contains(each.value.needs, "<need>") ? [<document>] : []`.
        for need, document in re.findall(
            r'contains\(each\.value\.needs,\s*"(\w+)"\)\s*\?\s*\[\W*data\.aws_iam_policy_document\.(\w+)',
            sources,
        ):
            if need not in each.get("needs", []):
                sources = re.sub(rf"data\.aws_iam_policy_document\.{document}\b", "", sources)
        # Dynamic statements render their content (the for_each guards them by need).
        dynamic = [
            content
            for block in hcl.blocks(body, "dynamic")
            if "statement" in block
            for content in hcl.blocks(block["statement"], "content")
        ]
        own = [
            {k: _rendered(hcl.attr(st, k), each_key, each) for k in ("sid", "actions", "resources")}
            for st in [*hcl.blocks(body, "statement"), *dynamic]
        ]
        for source in re.findall(r"data\.aws_iam_policy_document\.(\w+)\.json", sources):
            own += statements(source)
        return own

    rendered = {name: statements(name) for name in documents if name in HANDLERS}
    rendered |= {key: statements("queue_consumer", key, each) for key, each in SUBSCRIBERS.items()}
    return rendered


def test_lambda_policies_have_no_wildcard_actions_or_resources() -> None:
    # GIVEN the per-Lambda IAM policy documents and the action lists they use
    iam = hcl.module("modules/iam")
    action_lists = {f"local.{k}": v for k, v in iam.locals.items() if isinstance(v, list)}
    # WHEN expanding every handler's statements, actions and resources
    policies = _policy_statements(iam)
    offenders = []
    for name, statements in policies.items():
        for statement in statements:
            actions_expr = statement["actions"]
            actions = []
            for ref in re.findall(r"local\.\w+", str(actions_expr)) or []:
                actions += action_lists[ref]
            if isinstance(actions_expr, list):
                actions += actions_expr
            offenders += [(name, a) for a in actions if "*" in a.split(":", 1)[-1]]
            # X-Ray's write actions take no resource-level permission: "*" only for them.
            if not set(actions) <= XRAY_WRITE:
                offenders += [(name, r) for r in statement["resources"] if r == "*"]
            assert actions, (name, statement)
    # THEN no statement allows "*" actions or resources (but X-Ray's), every handler has
    # a policy, and every one may send its traces
    assert not offenders
    assert set(policies) == HANDLERS
    for name, statements in policies.items():
        assert any(st["sid"] == "XRayTracing" for st in statements), name


def test_subscribers_are_scoped_to_their_own_queue_table_and_needs() -> None:
    # GIVEN every subscriber's policy as rendered per handler
    policies = _policy_statements(hcl.module("modules/iam"))
    for handler, each in SUBSCRIBERS.items():
        # WHEN reading its statements by sid
        by_sid = {st["sid"]: st for st in policies[handler]}
        needs, queue, table = set(each["needs"]), each["queue"], each["table"]
        # THEN it logs to its own group, drains its own queue, writes only its own table
        assert by_sid["Logs"]["resources"] == [
            f'${{local.log_group_arn}}/${{local.function_names["{handler}"]}}:*'
        ]
        assert by_sid["ConsumeQueue"]["resources"] == [f'${{var.queue_arns["{queue}"]}}']
        assert by_sid["WriteOwnTable"]["resources"] == [f'${{local.t["{table}"]}}']
        # AND only a subscriber that needs it may query the ledger (to fill the versions its
        # filter kept from it), open personal data or send email
        if "read_ledger" in needs:
            assert by_sid["ReadLedger"]["resources"] == ['${local.t["ledger"]}']
            assert by_sid["ReadLedger"]["actions"] == ["dynamodb:Query"]
        assert ("ReadLedger" in by_sid) == ("read_ledger" in needs), handler
        assert ("OpenPersonalData" in by_sid) == ("open_personal_data" in needs), handler
        assert ("SendEmail" in by_sid) == ("send_email" in needs), handler


def test_sending_email_is_limited_to_the_identity_and_its_sender_address() -> None:
    # GIVEN the send_email statement of the iam module
    document = hcl.module("modules/iam").data["aws_iam_policy_document"]["send_email"]
    (dynamic,) = hcl.blocks(document, "dynamic")
    (statement,) = hcl.blocks(dynamic["statement"], "content")
    condition = hcl.blocks(statement, "condition")[0]
    # THEN it allows ses:SendEmail on the identity only, from the sender address only,
    # and only when a subscriber needs it
    assert "local.sends_email ? ['${local.email_identity_arn}']" in str(
        hcl.attr(dynamic["statement"], "for_each")
    )
    assert hcl.attr(statement, "actions") == ["ses:SendEmail"]
    assert hcl.attr(statement, "resources") == ["${statement.value}"]
    assert hcl.attr(condition, "variable") == "ses:FromAddress"
    assert hcl.attr(condition, "values") == ["${var.email_sender}"]


def test_every_lambda_policy_is_exported_and_named() -> None:
    # GIVEN the iam module's handler lists and its policies output
    iam = hcl.module("modules/iam")
    exported = str(hcl.attr(iam.outputs["policies"], "value"))
    documents = set(iam.data["aws_iam_policy_document"])
    # WHEN comparing them with the policy documents
    # THEN every platform handler has its document exported, subscribers theirs by for_each
    assert set(iam.locals["platform_handlers"]) == PLATFORM_HANDLERS <= documents
    for name in PLATFORM_HANDLERS:
        assert f"data.aws_iam_policy_document.{name}.json" in exported
    assert "data.aws_iam_policy_document.queue_consumer" in exported
    assert "keys(var.subscribers)" in str(iam.locals["handlers"])
    assert "function_arns" in iam.outputs and "function_names" in iam.outputs


def test_search_lambda_policies_are_scoped_to_their_resources() -> None:
    # GIVEN the policies of the search transformation and the search erasure consumer
    policies = _policy_statements(hcl.module("modules/iam"))

    def statements(name: str) -> dict[str, dict[str, Any]]:
        return {st["sid"]: st for st in policies[name]}

    transform = statements("search_transform")
    erasure = statements("search_erasure")
    # WHEN reading their statements
    # THEN the transformation only reads data keys and unwraps them (no writes, no OpenSearch)
    assert transform["ReadPersonalDataKeys"]["actions"] == ["dynamodb:GetItem"]
    assert transform["ReadPersonalDataKeys"]["resources"] == ['${local.t["personal_data_keys"]}']
    assert transform["OpenPersonalData"]["actions"] == ["kms:Decrypt"]
    assert transform["OpenPersonalData"]["resources"] == ["${var.personal_data_kms_key_arn}"]
    assert not any("es:" in str(st["actions"]) for st in transform.values())
    # AND the erasure consumer reads the stream, rewrites documents, and has an on-failure queue
    assert set(erasure["RedactSearchDocuments"]["actions"]) == {
        "es:ESHttpGet",
        "es:ESHttpPost",
        "es:ESHttpPut",
    }
    assert erasure["RedactSearchDocuments"]["resources"] == [
        "${var.opensearch_domain_arn}",
        "${var.opensearch_domain_arn}/*",
    ]
    assert erasure["ReadEventStream"]["resources"] == ["${var.event_stream_arn}"]
    assert erasure["OnFailure"]["resources"] == ["${var.stream_failure_queue_arn}"]
    assert not any("personal_data" in str(st["resources"]) for st in erasure.values())


def test_the_late_redaction_pass_is_granted_its_queue_and_the_index_only() -> None:
    # GIVEN the policies of search_erasure and of the late redaction consumer
    policies = _policy_statements(hcl.module("modules/iam"))
    erasure = {st["sid"]: st for st in policies["search_erasure"]}
    late = {st["sid"]: st for st in policies["search_late_redaction"]}
    # WHEN reading their statements
    # THEN search_erasure may only send to the redaction queue (no receive)
    assert erasure["ScheduleLateRedaction"]["resources"] == ["${var.search_redaction_queue_arn}"]
    assert erasure["ScheduleLateRedaction"]["actions"] == ["sqs:SendMessage", "sqs:GetQueueUrl"]
    # AND the late pass consumes that queue, decrypts its messages and rewrites documents,
    # without the stream, the ledger or any personal data key
    assert late["ConsumeQueue"]["resources"] == ["${var.search_redaction_queue_arn}"]
    assert late["ConsumeQueue"]["actions"] == "${local.sqs_consume}"
    assert late["QueueKey"] == {
        "sid": "QueueKey",
        "actions": ["kms:Decrypt"],
        "resources": ["${var.pubsub_kms_key_arn}"],
    }
    assert late["RedactSearchDocuments"] == {
        **erasure["RedactSearchDocuments"],
        "sid": "RedactSearchDocuments",
    }
    everything = str(list(late.values()))
    assert "personal_data" not in everything and "kinesis" not in everything
    assert "dynamodb" not in everything


def test_firehose_roles_are_split_and_only_search_may_invoke_the_transformation() -> None:
    # GIVEN the two delivery streams' role policies
    policies = hcl.module("modules/archive").data["aws_iam_policy_document"]
    archive = [hcl.clean(st) for st in hcl.blocks(policies["firehose"], "statement")]
    search = {hcl.attr(st, "sid"): st for st in hcl.blocks(policies["search"], "statement")}
    # WHEN reading their actions and resources
    archive_actions = " ".join(str(hcl.attr(st, "actions")) for st in archive)
    invoke = search["InvokeTransformation"]
    # THEN the archive role has neither OpenSearch nor Lambda access
    assert "es:" not in archive_actions and "lambda:" not in archive_actions
    # AND the search role invokes only search_transform and writes only the failed prefix
    assert sorted(hcl.attr(invoke, "actions")) == [
        "lambda:GetFunctionConfiguration",
        "lambda:InvokeFunction",
    ]
    assert hcl.attr(invoke, "resources") == ["${var.search_transform_function_arn}"]
    assert hcl.attr(search["WriteFailedDocuments"], "resources") == [
        "${aws_s3_bucket.archive.arn}/${var.failed_documents_prefix}*"
    ]


@pytest.mark.slow
def test_checkov_reports_no_failed_checks_and_only_inline_reasoned_skips() -> None:
    # GIVEN infra/ and checkov
    # WHEN checkov scans the Terraform (no network: --skip-download)
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(hcl.INFRA),
            "--framework",
            "terraform",
            "--compact",
            "-o",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    skipped = report["results"]["skipped_checks"]
    print(f"checkov: {summary}")
    # THEN nothing failed, something was checked, and every skip carries an inline reason
    assert failed == []
    assert summary["passed"] > 0 and summary["parsing_errors"] == 0
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        source = (hcl.INFRA / check["file_path"].lstrip("/")).read_text()
        assert reason.strip(), check["check_id"]
        assert f"#checkov:skip={check['check_id']}:" in source, check["check_id"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_terraform_fmt_is_clean() -> None:
    # GIVEN a terraform binary
    # WHEN checking the formatting of infra/
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", str(hcl.INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN no file needs reformatting
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
@pytest.mark.skipif(missing_tooling() is not None, reason=str(missing_tooling()))
def test_terraform_validate_passes(tmp_path: Path) -> None:
    # GIVEN a copy of infra/ initialised from the local provider mirror
    work = terraform.initialised_copy(tmp_path / "infra")
    # WHEN validating
    result = subprocess.run(
        ["terraform", "validate", "-no-color", "-json"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN the configuration is valid for the AWS provider
    report = json.loads(result.stdout)
    assert report["valid"], report["diagnostics"]


def test_monitoring_inputs_mirror_the_python_declarations() -> None:
    # GIVEN the iam module's stream consumers and the catalogue's metrics namespace
    iam = hcl.module("modules/iam")
    root = hcl.module("")
    # THEN they are the handlers mapped to a stream and the handlers' EMF namespace
    assert set(iam.locals["stream_consumers"]) == set(STREAM_CONSUMERS)
    assert root.locals["metrics_namespace"] == NAMESPACE
