"""scripts/tf_outputs_to_chalice.py against a stand-in terraform executable."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import post_deploy
import pytest
import tf_outputs_to_chalice as handoff

from chalicelib import resources
from chalicelib.settings import load_settings
from tests.infra import hcl

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "tf_outputs_to_chalice.py"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
POOL_ID = f"{REGION}_AbCdEf123"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
WEB_ACL_ARN = f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/acme-api/0123"

FAKE_TERRAFORM = """#!{python}
import os, sys
with open(os.environ["FAKE_TF_ARGS"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
sys.stderr.write(os.environ.get("FAKE_TF_STDERR", ""))
with open(os.environ["FAKE_TF_OUTPUT"]) as doc:
    sys.stdout.write(doc.read())
sys.exit(int(os.environ.get("FAKE_TF_EXIT", "0")))
"""


def policy(sid: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"],
                }
            ],
        }
    )


def outputs_document(**overrides: Any) -> dict[str, Any]:
    """A `terraform output -json` document as infra/outputs.tf produces it."""
    values: dict[str, Any] = {
        "aws_region": REGION,
        "name_prefix": "acme",
        "chalice_app_name": "event-platform",
        "chalice_stage": "dev",
        "table_names": {t.key: f"acme-{t.suffix}" for t in resources.TABLES},
        "queue_names": {q.key: f"acme-{q.suffix}" for q in resources.QUEUES},
        "user_events_topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:acme-user-events",
        "event_stream_name": "acme-events",
        "ledger_stream_arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/acme-ledger/stream/2026",
        "stream_failure_queue_name": "acme-stream-failures",
        "stream_failure_queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:acme-stream-failures",
        "search_redaction_queue_name": "acme-search-redaction",
        "archive_bucket_name": "acme-archive",
        "opensearch_endpoint": "https://search-acme.eu-west-1.es.amazonaws.com",
        "opensearch_index": "events",
        "early_adopter_count": 50,
        "cors_allowed_origins": ["https://app.acme.example", "http://localhost:3000"],
        "personal_data_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/pd",
        "email_sender": "no-reply@acme.example.com",
        "lambda_iam_policies": {h: policy(h) for h in handoff.HANDLERS},
        "lambda_reserved_concurrency": {"projector": 3, "loyalty_enrolment": 2},
        "cognito_user_pool_id": POOL_ID,
        "cognito_app_client_id": "4example0client0id0abcdefgh",
        "cognito_issuer": ISSUER,
        "cognito_jwks_url": f"{ISSUER}/.well-known/jwks.json",
        "api_throttling": {"rate_limit": 25, "burst_limit": 40},
        "api_web_acl_arn": WEB_ACL_ARN,
        "replay_worker": {"memory_mb": 3008, "timeout_seconds": 900},
    }
    values.update(overrides)
    return {
        name: {"sensitive": False, "type": "string", "value": value}
        for name, value in values.items()
        if value is not None
    }


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """GIVEN a stand-in `terraform` first on PATH that prints a canned output document."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "terraform"
    exe.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    document = tmp_path / "outputs.json"
    document.write_text(json.dumps(outputs_document()))
    args_log = tmp_path / "args.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TF_OUTPUT", str(document))
    monkeypatch.setenv("FAKE_TF_ARGS", str(args_log))
    tf_dir = tmp_path / "infra"
    tf_dir.mkdir()
    return {"document": document, "args": args_log, "tf_dir": tf_dir}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """GIVEN a temp copy of the Chalice config with a `local` stage."""
    chalice_dir = tmp_path / ".chalice"
    chalice_dir.mkdir()
    path = chalice_dir / "config.json"
    path.write_text(
        json.dumps(
            {
                "version": "2.0",
                "app_name": "event-platform",
                "stages": {
                    "local": {"api_gateway_stage": "api", "environment_variables": {"X": "1"}},
                    "dev": {"api_gateway_stage": "v1", "environment_variables": {"EXTRA": "kept"}},
                },
            }
        )
    )
    return path


def run(fake: dict[str, Path], config: Path, *extra: str) -> int:
    return handoff.main(["--tf-dir", str(fake["tf_dir"]), "--config", str(config), *extra])


def test_writes_the_environment_the_app_reads(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    code = run(fake_terraform, config, "--stage", "dev")
    stage = json.loads(config.read_text())["stages"]["dev"]
    settings = load_settings(stage["environment_variables"])
    # THEN terraform was asked for JSON outputs and the app's settings resolve to terraform's names
    assert code == 0
    assert "output -json" in fake_terraform["args"].read_text()
    assert settings.name_prefix == "acme"
    # (the stage is named, so a missing identity setting would have failed loudly)
    assert settings.stage == "dev" and settings.cognito is not None
    assert settings.tables == {t.key: f"acme-{t.suffix}" for t in resources.TABLES}
    assert settings.queues == {q.key: f"acme-{q.suffix}" for q in resources.QUEUES}
    assert settings.user_events_topic_arn.endswith(":acme-user-events")
    assert settings.event_stream == "acme-events"
    assert settings.ledger_stream_arn.endswith("table/acme-ledger/stream/2026")
    assert settings.stream_failure_queue == "acme-stream-failures"
    assert settings.archive_bucket == "acme-archive"
    assert settings.early_adopter_count == 50
    assert settings.cors_allowed_origins == ("https://app.acme.example", "http://localhost:3000")
    assert stage["environment_variables"]["OPENSEARCH_ENDPOINT"].startswith("https://search-acme")


def test_every_function_runs_without_pydantics_plugin_scan(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    assert run(fake_terraform, config, "--stage", "dev") == 0
    env = json.loads(config.read_text())["stages"]["dev"]["environment_variables"]
    # THEN pydantic is told not to scan installed distributions for plugins on a cold start
    assert env["PYDANTIC_DISABLE_PLUGINS"] == "__all__"


def test_hands_the_user_pool_to_the_api_under_the_agreed_names(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    code = run(fake_terraform, config, "--stage", "dev")
    env = json.loads(config.read_text())["stages"]["dev"]["environment_variables"]
    # THEN the API finds the pool, its client, the issuer and the key set
    assert code == 0
    assert env["COGNITO_USER_POOL_ID"] == POOL_ID
    assert env["COGNITO_APP_CLIENT_ID"] == "4example0client0id0abcdefgh"
    assert env["COGNITO_ISSUER"] == ISSUER
    assert env["COGNITO_JWKS_URL"] == f"{ISSUER}/.well-known/jwks.json"


def test_root_module_declares_every_output_the_hand_off_needs() -> None:
    # GIVEN infra/outputs.tf
    declared = set(hcl.module().outputs)
    # THEN every output the hand-off requires is declared, the pool's among them
    assert set(handoff.REQUIRED_OUTPUTS) <= declared
    assert set(handoff.IDENTITY_OUTPUTS) <= declared
    assert set(handoff.API_PROTECTION_OUTPUTS) <= declared


def test_state_without_the_rate_limits_is_refused(
    fake_terraform: dict[str, Path], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a state applied before the rate limits existed
    fake_terraform["document"].write_text(json.dumps(outputs_document(api_web_acl_arn=None)))
    # WHEN handing it over
    code = run(fake_terraform, config, "--stage", "dev")
    # THEN it exits 2 naming the missing output, and writes nothing
    assert code == 2
    assert "api_web_acl_arn" in capsys.readouterr().err
    assert not (config.parent / "api-protection-dev.json").exists()


@pytest.mark.parametrize("missing", sorted(handoff.IDENTITY_OUTPUTS))
def test_state_without_the_user_pool_is_refused(
    fake_terraform: dict[str, Path],
    config: Path,
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    # GIVEN an output document from before the identity module was applied
    fake_terraform["document"].write_text(json.dumps(outputs_document(**{missing: None})))
    # WHEN running the hand-off
    code = run(fake_terraform, config)
    # THEN it exits 2 naming the missing output and writes nothing
    assert code == 2
    assert missing in capsys.readouterr().err
    assert "COGNITO_USER_POOL_ID" not in config.read_text()


def test_writes_one_policy_file_per_function_with_timeouts_and_concurrency(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    run(fake_terraform, config, "--stage", "dev")
    stage = json.loads(config.read_text())["stages"]["dev"]
    functions = stage["lambda_functions"]
    # THEN autogen is off, every function is traced with X-Ray and has its own policy
    # file with terraform's policy
    assert stage["autogen_policy"] is False
    assert stage["xray"] is True
    assert set(functions) == set(handoff.HANDLERS)
    for handler, settings in functions.items():
        policy_path = config.parent / settings["iam_policy_file"]
        assert json.loads(policy_path.read_text())["Statement"][0]["Sid"] == handler
        assert settings["autogen_policy"] is False
    # AND SQS consumers' timeouts come from resources.py, reserved concurrency from terraform
    for queue in resources.QUEUES:
        handler = handoff.SQS_CONSUMERS[queue.key]
        assert functions[handler]["lambda_timeout"] == queue.lambda_timeout_seconds
    assert functions["projector"]["reserved_concurrency"] == 3
    assert "reserved_concurrency" not in functions["api_handler"]


def test_hands_the_stage_rate_limits_to_post_deploy(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    run(fake_terraform, config, "--stage", "dev")
    # THEN the stage throttling and the web ACL are written for post_deploy.py, which reads
    # them back as Terraform declared them
    protection = post_deploy.read_api_protection(config, "dev")
    assert protection == post_deploy.ApiProtection(
        rate_limit=25, burst_limit=40, web_acl_arn=WEB_ACL_ARN
    )
    # AND nothing of them enters the Lambda environment
    assert "acme-api" not in json.dumps(json.loads(config.read_text())["stages"]["dev"])


def test_search_functions_get_their_policies_and_timeouts(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    run(fake_terraform, config, "--stage", "dev")
    functions = json.loads(config.read_text())["stages"]["dev"]["lambda_functions"]
    # THEN the search erasure consumer is a stream consumer (post_deploy gives it the
    # stream settings) and the Firehose transformation a processor, each with its policy
    assert "search_erasure" in handoff.STREAM_CONSUMERS
    assert "search_transform" in handoff.FIREHOSE_PROCESSORS
    assert "search_transform" not in handoff.STREAM_CONSUMERS
    for handler in ("search_erasure", "search_transform"):
        assert functions[handler]["iam_policy_file"] == f"policy-dev-{handler}.json"
        assert (config.parent / f"policy-dev-{handler}.json").is_file()
    assert functions["search_erasure"]["lambda_timeout"] == (
        handoff.STREAM_CONSUMER_TIMEOUT_SECONDS
    )
    # AND the transformation's timeout is its own, within Firehose's 5-minute processor limit
    assert functions["search_transform"]["lambda_timeout"] == 60
    assert functions["search_transform"]["lambda_timeout"] <= 300


def test_the_replay_worker_gets_lambdas_limit_and_the_memory_terraform_declares(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # GIVEN outputs whose replay worker has 3008 MB
    # WHEN handing the outputs to the dev stage
    run(fake_terraform, config, "--stage", "dev")
    functions = json.loads(config.read_text())["stages"]["dev"]["lambda_functions"]
    worker = functions[resources.REPLAY.handler]
    # THEN the worker has its policy, Lambda's 15 minutes and that memory; no one else has it
    assert worker["iam_policy_file"] == f"policy-dev-{resources.REPLAY.handler}.json"
    assert (worker["lambda_timeout"], worker["lambda_memory_size"]) == (900, 3008)
    assert [h for h, f in functions.items() if "lambda_memory_size" in f] == ["replay_worker"]


def test_every_chalice_function_of_the_app_is_handed_a_policy(chalice_app: ModuleType) -> None:
    # GIVEN the functions the app registers (routes share api_handler)
    app = chalice_app.app
    declared = {source.name for source in app.event_sources}
    declared |= {function.name for function in app.pure_lambda_functions}
    declared |= {"api_handler"} if app.routes else set()
    # WHEN comparing them with the handlers the hand-off writes policies for
    # THEN none is missing (chalice would fall back to a stage-wide policy file) or extra
    assert declared == set(handoff.HANDLERS)


def test_preserves_other_stages_and_unrelated_settings(
    fake_terraform: dict[str, Path], config: Path
) -> None:
    # WHEN handing the outputs to the dev stage
    run(fake_terraform, config, "--stage", "dev")
    written = json.loads(config.read_text())
    # THEN the local stage and dev's own extra settings are untouched
    assert written["stages"]["local"] == {
        "api_gateway_stage": "api",
        "environment_variables": {"X": "1"},
    }
    assert written["stages"]["dev"]["api_gateway_stage"] == "v1"
    assert written["stages"]["dev"]["environment_variables"]["EXTRA"] == "kept"
    assert written["app_name"] == "event-platform"


def test_missing_terraform_binary_is_a_clear_error(
    tmp_path: Path,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a PATH without terraform
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    before = config.read_text()
    # WHEN running the hand-off
    code = handoff.main(["--tf-dir", str(tmp_path), "--config", str(config)])
    err = capsys.readouterr().err.strip()
    # THEN it exits 2 with one line naming terraform, and the config is unchanged
    assert code == 2
    assert "terraform not found on PATH" in err and len(err.splitlines()) == 1
    assert config.read_text() == before


def test_state_without_outputs_is_a_clear_error(
    fake_terraform: dict[str, Path], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN terraform reports no outputs (nothing applied yet)
    fake_terraform["document"].write_text("{}\n")
    # WHEN running the hand-off
    code = run(fake_terraform, config)
    err = capsys.readouterr().err.strip()
    # THEN it exits 2 and says to apply first
    assert code == 2
    assert "no outputs" in err and "apply" in err


def test_missing_output_is_named(
    fake_terraform: dict[str, Path], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an output document lacking the ledger stream ARN
    fake_terraform["document"].write_text(json.dumps(outputs_document(ledger_stream_arn=None)))
    # WHEN running the hand-off
    code = run(fake_terraform, config)
    err = capsys.readouterr().err.strip()
    # THEN it exits 2 naming the missing output
    assert code == 2
    assert "ledger_stream_arn" in err


def test_missing_policy_for_a_function_is_named(
    fake_terraform: dict[str, Path], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN IAM policies for every function but the projector
    policies = {h: policy(h) for h in handoff.HANDLERS if h != "projector"}
    fake_terraform["document"].write_text(
        json.dumps(outputs_document(lambda_iam_policies=policies))
    )
    # WHEN running the hand-off
    code = run(fake_terraform, config)
    # THEN it exits 2 naming the function
    assert code == 2
    assert "projector" in capsys.readouterr().err


def test_failing_terraform_is_reported(
    fake_terraform: dict[str, Path],
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN terraform fails (e.g. backend not initialised)
    monkeypatch.setenv("FAKE_TF_EXIT", "1")
    monkeypatch.setenv("FAKE_TF_STDERR", "\nError: Backend initialization required\n")
    # WHEN running the hand-off
    code = run(fake_terraform, config)
    err = capsys.readouterr().err.strip()
    # THEN it exits 2 with terraform's first error line
    assert code == 2
    assert "Backend initialization required" in err


def test_stage_mismatch_is_refused(
    fake_terraform: dict[str, Path], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN infra applied for stage dev
    # WHEN handing it to stage prod
    code = run(fake_terraform, config, "--stage", "prod")
    # THEN it exits 2 (the IAM policies name dev's functions) and writes nothing
    assert code == 2
    assert "prod" in capsys.readouterr().err
    assert "prod" not in json.loads(config.read_text())["stages"]


def test_command_line_entry_point(fake_terraform: dict[str, Path], config: Path) -> None:
    # WHEN running the script as a program
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--tf-dir",
            str(fake_terraform["tf_dir"]),
            "--config",
            str(config),
            "--stage",
            "dev",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN it exits 0 and the stage is written
    assert result.returncode == 0, result.stderr
    assert "dev" in json.loads(config.read_text())["stages"]
