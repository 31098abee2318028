"""Hand the Terraform outputs of infra/ to the Chalice config.

    python scripts/tf_outputs_to_chalice.py [--tf-dir infra] [--stage dev]
                                            [--config chalice_app/.chalice/config.json]

Runs ``terraform output -json`` (through python-terraform) in ``--tf-dir`` and
writes the stage into the Chalice config: the environment variables the app
reads (chalicelib/settings.py), ``autogen_policy: false`` with one
least-privilege IAM policy file per function (written next to the config),
Lambda timeouts (SQS consumers from chalicelib/resources.py; the Firehose
transformation ``search_transform`` its own, the replay worker Lambda's 15 minutes
and its memory from the ``replay_worker`` output), reserved concurrency and X-Ray
tracing (``xray: true``) for every function, and the API stage's rate limits
(``api-protection-<stage>.json`` next to the config: stage throttling and the
WAF web ACL, which post_deploy.py applies to the stage Chalice deploys). Other
stages and unrelated settings are preserved.

Exit codes: 0 written, 2 a precondition failed (one-line message on stderr).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "chalice_app") not in sys.path:
    sys.path.insert(0, str(ROOT / "chalice_app"))

from chalicelib import resources  # noqa: E402
from chalicelib.settings import CORS_ALLOWED_ORIGINS_ENV_VAR  # noqa: E402

__all__ = [
    "API_PROTECTION_OUTPUTS",
    "FIREHOSE_PROCESSORS",
    "HANDLERS",
    "IDENTITY_OUTPUTS",
    "REPLAY_WORKER_HANDLER",
    "REQUIRED_OUTPUTS",
    "RUNTIME_ENVIRONMENT",
    "SEARCH_LATE_REDACTION_HANDLER",
    "SQS_CONSUMERS",
    "STREAM_CONSUMERS",
    "HandoffError",
    "api_protection",
    "api_protection_file_name",
    "build_stage",
    "environment_variables",
    "help_description",
    "lambda_timeouts",
    "main",
    "read_outputs",
    "write_config",
]

# Chalice handler names (app.py); functions deploy as <app>-<stage>-<handler>.
API_HANDLER = "api_handler"
# Kinesis / DynamoDB stream consumers (post_deploy.py gives their mappings
# bisect, retries and the on-failure queue).
STREAM_CONSUMERS: tuple[str, ...] = (
    "ledger_relay",
    "user_events_fanout",
    "projector",
    "search_erasure",
)
# SQS consumer handler by queue key, as declared in resources.SUBSCRIBERS.
SQS_CONSUMERS: dict[str, str] = {s.key: s.handler for s in resources.SUBSCRIBERS}
# The erasures' late redaction pass: an SQS consumer of the search redaction
# delay queue (per-message failures, like the subscribers).
SEARCH_LATE_REDACTION_HANDLER = resources.SEARCH_LATE_REDACTION.handler
# Plain functions invoked by Firehose as data-transformation processors (no
# event source mapping), with their Lambda timeout. Firehose allows a
# processor up to 5 minutes; a batch of at most 1 MiB needs far less. The
# timeout is part of the search delivery window (resources.SEARCH_DELIVERY).
FIREHOSE_PROCESSORS: dict[str, int] = {
    "search_transform": resources.SEARCH_DELIVERY.transform_timeout_seconds
}
# Invoked by the replay state machine (infra/modules/replay) for each of its steps,
# a bucket's fold within Lambda's 15 minutes; its memory is a Terraform variable.
REPLAY_WORKER_HANDLER = resources.REPLAY.handler
HANDLERS: tuple[str, ...] = (
    API_HANDLER,
    *STREAM_CONSUMERS,
    *SQS_CONSUMERS.values(),
    SEARCH_LATE_REDACTION_HANDLER,
    *FIREHOSE_PROCESSORS,
    REPLAY_WORKER_HANDLER,
)

API_TIMEOUT_SECONDS = 30
STREAM_CONSUMER_TIMEOUT_SECONDS = 60
# Set for every function, not read by the app: pydantic otherwise scans the
# entry points of every installed distribution for plugins (the app uses
# none) when it builds its first model, in each cold start.
RUNTIME_ENVIRONMENT: dict[str, str] = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}

# The API's identity provider: Terraform output -> environment variable.
IDENTITY_OUTPUTS: dict[str, str] = {
    "cognito_user_pool_id": resources.USER_POOL.pool_id_env_var,
    "cognito_app_client_id": resources.USER_POOL.app_client_id_env_var,
    "cognito_jwks_url": resources.USER_POOL.jwks_url_env_var,
    "cognito_issuer": resources.USER_POOL.issuer_env_var,
}

REQUIRED_OUTPUTS: tuple[str, ...] = (
    "name_prefix",
    "chalice_app_name",
    "chalice_stage",
    "table_names",
    "queue_names",
    "user_events_topic_arn",
    "event_stream_name",
    "ledger_stream_arn",
    "stream_failure_queue_name",
    "search_redaction_queue_name",
    "archive_bucket_name",
    "opensearch_endpoint",
    "opensearch_index",
    "early_adopter_count",
    "cors_allowed_origins",
    "email_sender",
    "lambda_iam_policies",
    "lambda_reserved_concurrency",
    *IDENTITY_OUTPUTS,
)
# The API stage's rate limits, which post_deploy.py applies (not the functions' environment).
API_PROTECTION_OUTPUTS: tuple[str, ...] = ("api_throttling", "api_web_acl_arn")


class HandoffError(Exception):
    """A precondition of the hand-off failed; the message is one line for the user."""


def read_outputs(tf_dir: Path) -> dict[str, Any]:
    """Values of ``terraform output -json`` in ``tf_dir`` (name -> value)."""
    if shutil.which("terraform") is None:
        raise HandoffError(
            "terraform not found on PATH; install Terraform >= 1.5 and run "
            f"`terraform -chdir={tf_dir} apply` first"
        )
    if not tf_dir.is_dir():
        raise HandoffError(f"Terraform directory {tf_dir} does not exist")
    from python_terraform import IsFlagged, Terraform

    tf = Terraform(working_dir=str(tf_dir))
    with warnings.catch_warnings():  # python-terraform logs failures with deprecated log.warn
        warnings.simplefilter("ignore", DeprecationWarning)
        code, out, err = tf.output_cmd(json=IsFlagged)
    if code != 0:
        detail = next((line.strip() for line in (err or "").splitlines() if line.strip()), "")
        raise HandoffError(f"`terraform output -json` failed in {tf_dir} (exit {code}): {detail}")
    try:
        document = json.loads(out or "{}")
    except json.JSONDecodeError as exc:
        raise HandoffError(f"`terraform output -json` printed invalid JSON: {exc}") from exc
    if not isinstance(document, dict) or not document:
        raise HandoffError(
            f"the Terraform state in {tf_dir} has no outputs; run `terraform -chdir={tf_dir} apply`"
        )
    return {name: entry["value"] for name, entry in document.items()}


def _require(outputs: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise HandoffError(
            f"Terraform output(s) missing: {', '.join(missing)} (is infra/outputs.tf applied?)"
        )
    for name, keys in (
        ("table_names", [t.key for t in resources.TABLES]),
        ("queue_names", [q.key for q in resources.QUEUES]),
        ("lambda_iam_policies", list(HANDLERS)),
    ):
        absent = [k for k in keys if k not in outputs[name]]
        if absent:
            raise HandoffError(f"Terraform output {name} lacks key(s): {', '.join(absent)}")


def environment_variables(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The app's environment variables (settings.py names) from Terraform outputs."""
    _require(outputs)
    env: dict[str, str] = {
        "NAME_PREFIX": str(outputs["name_prefix"]),
        resources.STAGE_ENV_VAR: str(outputs["chalice_stage"]),
    }
    for table in resources.TABLES:
        env[table.env_var] = str(outputs["table_names"][table.key])
    for queue in resources.QUEUES:
        env[queue.env_var] = str(outputs["queue_names"][queue.key])
    env["USER_EVENTS_TOPIC_ARN"] = str(outputs["user_events_topic_arn"])
    env[resources.EVENT_STREAM.env_var] = str(outputs["event_stream_name"])
    env["LEDGER_STREAM_ARN"] = str(outputs["ledger_stream_arn"])
    env[resources.STREAM_FAILURE_QUEUE_ENV_VAR] = str(outputs["stream_failure_queue_name"])
    env[resources.SEARCH_LATE_REDACTION.env_var] = str(outputs["search_redaction_queue_name"])
    env[resources.ARCHIVE_DELIVERY.bucket_env_var] = str(outputs["archive_bucket_name"])
    env["OPENSEARCH_ENDPOINT"] = str(outputs["opensearch_endpoint"])
    env["OPENSEARCH_INDEX"] = str(outputs["opensearch_index"])
    env["EARLY_ADOPTER_COUNT"] = str(int(outputs["early_adopter_count"]))
    env[CORS_ALLOWED_ORIGINS_ENV_VAR] = ",".join(outputs["cors_allowed_origins"] or [])
    env[resources.PERSONAL_DATA_KEY_ENV_VAR] = str(outputs["personal_data_kms_key_arn"])
    env[resources.EMAIL_SENDER_ENV_VAR] = str(outputs["email_sender"])
    for output, env_var in IDENTITY_OUTPUTS.items():
        env[env_var] = str(outputs[output])
    env.update(RUNTIME_ENVIRONMENT)
    return env


def lambda_timeouts() -> dict[str, int]:
    """Lambda timeout (seconds) per handler; subscribers' come from resources.SUBSCRIBERS."""
    timeouts = {API_HANDLER: API_TIMEOUT_SECONDS}
    timeouts.update({h: STREAM_CONSUMER_TIMEOUT_SECONDS for h in STREAM_CONSUMERS})
    for subscriber in resources.SUBSCRIBERS:
        timeouts[subscriber.handler] = subscriber.queue.lambda_timeout_seconds
    timeouts[SEARCH_LATE_REDACTION_HANDLER] = resources.SEARCH_LATE_REDACTION.lambda_timeout_seconds
    timeouts.update(FIREHOSE_PROCESSORS)
    timeouts[REPLAY_WORKER_HANDLER] = resources.REPLAY.timeout_seconds
    return timeouts


def policy_file_name(stage: str, handler: str) -> str:
    """File name (inside .chalice/) of a function's IAM policy."""
    return f"policy-{stage}-{handler}.json"


def api_protection_file_name(stage: str) -> str:
    """File name (inside .chalice/) of the stage's rate limits, which post_deploy.py applies."""
    return f"api-protection-{stage}.json"


def api_protection(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The API stage's throttling and web ACL (Chalice's config has no place for them)."""
    missing = [name for name in API_PROTECTION_OUTPUTS if name not in outputs]
    if missing:
        raise HandoffError(
            f"Terraform output(s) missing: {', '.join(missing)} (is infra/outputs.tf applied?)"
        )
    throttling = outputs["api_throttling"]
    return {
        "throttling": {
            "rate_limit": throttling["rate_limit"],
            "burst_limit": throttling["burst_limit"],
        },
        "web_acl_arn": outputs["api_web_acl_arn"],
    }


def build_stage(
    outputs: Mapping[str, Any], stage: str, existing: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The stage's config and the policy documents to write (file name -> policy)."""
    env = environment_variables(outputs)
    if outputs["chalice_stage"] != stage:
        raise HandoffError(
            f"infra was applied for Chalice stage {outputs['chalice_stage']!r}, not {stage!r}; "
            f"apply with -var chalice_stage={stage} or pass --stage {outputs['chalice_stage']}"
        )
    policies: dict[str, dict[str, Any]] = {}
    for handler in HANDLERS:
        raw = outputs["lambda_iam_policies"][handler]
        try:
            document = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except json.JSONDecodeError as exc:
            raise HandoffError(f"IAM policy output for {handler} is not JSON: {exc}") from exc
        if not document.get("Statement"):
            raise HandoffError(f"IAM policy output for {handler} has no statements")
        policies[policy_file_name(stage, handler)] = document

    if "replay_worker" not in outputs:
        raise HandoffError(
            "Terraform output(s) missing: replay_worker (is infra/outputs.tf applied?)"
        )
    config = dict(existing or {})
    config["environment_variables"] = {**config.get("environment_variables", {}), **env}
    config["autogen_policy"] = False
    # X-Ray active tracing on every function (their policies grant the trace writes).
    config["xray"] = True
    reserved: Mapping[str, Any] = outputs["lambda_reserved_concurrency"] or {}
    functions = dict(config.get("lambda_functions", {}))
    for handler, timeout in lambda_timeouts().items():
        settings = dict(functions.get(handler, {}))
        settings["autogen_policy"] = False
        settings["iam_policy_file"] = policy_file_name(stage, handler)
        settings["lambda_timeout"] = timeout
        if handler in reserved and reserved[handler] is not None:
            settings["reserved_concurrency"] = int(reserved[handler])
        else:
            settings.pop("reserved_concurrency", None)
        if handler == REPLAY_WORKER_HANDLER:
            settings["lambda_memory_size"] = int(outputs["replay_worker"]["memory_mb"])
        functions[handler] = settings
    config["lambda_functions"] = functions
    return config, policies


def write_config(config_path: Path, stage: str, outputs: Mapping[str, Any]) -> list[Path]:
    """Update ``stage`` in the Chalice config and write its policy files; returns paths written."""
    if not config_path.is_file():
        raise HandoffError(f"Chalice config {config_path} does not exist")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise HandoffError(f"Chalice config {config_path} is not valid JSON: {exc}") from exc
    app_name = config.get("app_name")
    if app_name and app_name != outputs.get("chalice_app_name", app_name):
        raise HandoffError(
            f"infra was applied for Chalice app {outputs['chalice_app_name']!r}, "
            f"but {config_path} is {app_name!r}"
        )
    stages = config.setdefault("stages", {})
    stages[stage], policies = build_stage(outputs, stage, stages.get(stage))
    rate_limits = api_protection(outputs)
    written: list[Path] = []
    for name, document in policies.items():
        path = config_path.parent / name
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        written.append(path)
    protection = config_path.parent / api_protection_file_name(stage)
    protection.write_text(json.dumps(rate_limits, indent=2, sort_keys=True) + "\n")
    written.append(protection)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    written.append(config_path)
    return written


def help_description(doc: str) -> str:
    """A script's docstring for its --help, less the usage block argparse prints itself."""
    title, _usage, *rest = doc.split("\n\n")
    return "\n\n".join([title, *rest])


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=help_description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tf-dir",
        type=Path,
        default=ROOT / "infra",
        help="the applied Terraform root module to read outputs from (default: infra)",
    )
    parser.add_argument("--stage", default="dev", help="the Chalice stage to write (default: dev)")
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "chalice_app" / ".chalice" / "config.json",
        help="the Chalice config to update; policy files go next to it "
        "(default: chalice_app/.chalice/config.json)",
    )
    args = parser.parse_args(argv)
    try:
        outputs = read_outputs(args.tf_dir)
        written = write_config(args.config, args.stage, outputs)
    except HandoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote stage {args.stage!r}: {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
