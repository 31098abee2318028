"""Rehearse the documented deployment for real against a fresh moto server.

    python scripts/deploy_rehearsal.py [--stage dev] [--keep-dir DIR]

ARCHITECTURE.md section 8, step by step, on loopback: a patched moto server
(local_aws.moto_server) on a free port; a copy of infra/ with a provider
override pointing every endpoint at it; ``terraform init -plugin-dir=<mirror>``
and ``apply``; ``tf_outputs_to_chalice.py`` into a copy of chalice_app/;
``chalice deploy``; ``post_deploy.py``. Then it checks from the emulator's
control plane what was created (functions, environments, role policies,
event source mappings, API routes), runs ``terraform destroy`` and stops moto.

What moto cannot create (local_aws.moto_patches.NOT_EMULATED, and whatever
depends on it) is left out of the apply, covered by a final ``terraform plan``
that must plan exactly those creations, and listed in ``not_emulated``. What
moto creates but does not run (NOT_EXECUTED: the replay state machine's
Distributed Map executions) is applied, its wiring checked (the deployed
definition is the module's template rendered with its values, and invokes the
deployed replay worker), and listed in ``not_emulated`` as well.

The last line of output is a JSON summary. Exit 0 only if every check held;
exit 0 with ``"skipped"`` when terraform or the provider mirror is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "scripts", ROOT / "chalice_app"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from post_deploy import desired_settings, rest_api  # noqa: E402
from replay_aws import render_definition  # noqa: E402
from tf_outputs_to_chalice import environment_variables  # noqa: E402

from local_aws import rehearsal_checks as checks  # noqa: E402
from local_aws.moto_patches import (  # noqa: E402
    PATCHES,
    not_emulated_reason,
    not_executed_reason,
)
from local_aws.stack_process import free_port, wait_for  # noqa: E402
from local_aws.terraform_cli import (  # noqa: E402
    PlannedResource,
    dependencies,
    dependents,
    graph_edges,
    missing_tooling,
    provider_mirror,
    show_plan,
    terraform,
)

__all__ = ["main"]

REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
OVERRIDE_EXAMPLE = ROOT / "infra" / "local" / "provider_override.tf.example"
EXAMPLE_ENDPOINT = "http://127.0.0.1:5000"
# The AWS provider waits a fixed 10 minutes before its first poll of a new
# OpenSearch domain, and as long for its deletion (moto is done at once).
# The rehearsal creates the domain through the API and imports it, then
# terraform configures it in place (update path); at the end it deletes it
# through the API.
SLOW_TYPES = ("aws_opensearch_domain",)
# The provider waits about 13 s after creating a KMS key, and each key heads a chain of
# such waits (a queue it encrypts 25 s, the queue whose DLQ that is 25 s, their
# policies 25 s, ...). Applied first, beside the domains' own key, the keys wait
# together there, and the big apply starts on their queues: 98 s to 87 s.
FIRST_TYPES = ("aws_kms_key",)


class RehearsalError(Exception):
    """A step failed; the rehearsal stops there."""


def _log(message: str) -> None:
    print(f"[rehearsal] {message}", file=sys.stderr, flush=True)


@contextmanager
def moto_server(log_path: Path) -> Iterator[str]:
    """A patched moto server on a free loopback port; its URL. Stopped on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_aws.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT / "scripts",
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            if process.poll() is not None:
                raise RehearsalError(f"moto server exited, see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        try:
            wait_for(answers, timeout=60)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _aws_env(url: str) -> dict[str, str]:
    return {**CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": url}


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )


def _client(url: str, service: str) -> Any:
    return _session().client(service, endpoint_url=url)  # type: ignore[call-overload]


REHEARSAL_EMAIL_SENDER = "no-reply@example.com"


def prepare_infra(work: Path, url: str) -> Path:
    """A copy of infra/ whose provider override points every endpoint at ``url``."""
    tf_dir = work / "infra"
    shutil.copytree(
        ROOT / "infra", tf_dir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    override = OVERRIDE_EXAMPLE.read_text().replace(EXAMPLE_ENDPOINT, url)
    (tf_dir / "rehearsal_provider_override.tf").write_text(override)
    # The documented apply passes the sender of the subscribers that send email.
    (tf_dir / "rehearsal.auto.tfvars.json").write_text(
        json.dumps({"email_sender": REHEARSAL_EMAIL_SENDER}) + "\n"
    )
    terraform(["init", "-input=false", "-no-color", f"-plugin-dir={provider_mirror()}"], tf_dir)
    return tf_dir


def _targets(addresses: set[str]) -> list[str]:
    return [f"-target={address}" for address in sorted(addresses)]


# Most of an apply or destroy against moto is the provider's propagation waits, and
# most of a refresh is one read after another: run more of them at once.
PARALLELISM = "-parallelism=30"


def _apply(tf_dir: Path, targets: set[str], log_name: str) -> None:
    output = terraform(
        ["apply", "-auto-approve", "-input=false", "-no-color", PARALLELISM, *_targets(targets)],
        tf_dir,
    )
    (tf_dir / log_name).write_text(output)


def _create_and_import_domains(
    tf_dir: Path, url: str, domains: list[PlannedResource]
) -> None:
    """Create each OpenSearch domain through the API with its replacement-forcing settings."""
    plan = tf_dir / "domains.plan"
    configs = {d.config for d in domains}
    terraform(["plan", "-input=false", "-no-color", f"-out={plan}", *_targets(configs)], tf_dir)
    opensearch = _client(url, "opensearch")
    imports = []
    for domain in (r for r in show_plan(plan, tf_dir) if r.type in SLOW_TYPES):
        at_rest = (domain.after.get("encrypt_at_rest") or [{}])[0]
        opensearch.create_domain(
            DomainName=domain.after["domain_name"],
            EngineVersion=domain.after["engine_version"],
            EncryptionAtRestOptions={
                "Enabled": bool(at_rest.get("enabled")),
                "KmsKeyId": at_rest.get("kms_key_id") or "",
            },
        )
        imports.append(
            f'import {{\n  to = {domain.address}\n  id = "{domain.after["domain_name"]}"\n}}\n'
        )
    (tf_dir / "rehearsal_imports.tf").write_text("\n".join(imports))


@contextmanager
def _step(steps: dict[str, float], name: str) -> Iterator[None]:
    _log(name)
    started = time.monotonic()
    try:
        yield
    finally:
        steps[name] = round(time.monotonic() - started, 1)


def apply_infra(tf_dir: Path, url: str, steps: dict[str, float]) -> dict[str, Any]:
    """terraform apply of everything moto can create; what was left out, and why."""
    with _step(steps, "terraform plan and graph"), ThreadPoolExecutor(max_workers=1) as beside:
        graph = beside.submit(terraform, ["graph"], tf_dir)  # (it takes no state lock)
        plan = tf_dir / "full.plan"
        terraform(["plan", "-input=false", "-no-color", PARALLELISM, f"-out={plan}"], tf_dir)
        resources = show_plan(plan, tf_dir)
        edges = graph_edges(graph.result())
    gaps = {
        r.config: reason
        for r in resources
        if (reason := not_emulated_reason(r.type, r.after)) is not None
    }
    excluded = dependents(gaps, edges)
    not_emulated = {
        address: gaps.get(address) or f"depends on {', '.join(sorted(gaps))}"
        for address in sorted(excluded)
    }
    everything = {r.config for r in resources}
    domains = [r for r in resources if r.type in SLOW_TYPES and r.config not in excluded]
    configs = {d.config for d in domains}
    # First what the domains need (their KMS key, log groups), so they can be created
    # with it, and every KMS key (FIRST_TYPES); then everything, the domains' updates
    # among the rest.
    keys = {r.config for r in resources if r.type in FIRST_TYPES and r.config not in excluded}
    first = (dependencies(configs | keys, edges) & everything) - configs
    if first:
        with _step(steps, "terraform apply: the KMS keys and what the OpenSearch domains need"):
            _apply(tf_dir, first, "apply-1.log")
    if domains:
        with _step(steps, "OpenSearch domains created and imported"):
            _create_and_import_domains(tf_dir, url, domains)
    with _step(steps, f"terraform apply: {len(everything - excluded)} resource blocks"):
        _apply(tf_dir, everything - excluded, "apply-2.log")
    with _step(steps, "terraform apply -refresh-only (outputs)"):
        # A targeted apply only writes the outputs of what it targeted. This reads
        # every resource back into the state too, which the plan after it and the
        # destroy use instead of reading them again.
        terraform(
            ["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color", PARALLELISM],
            tf_dir,
        )
    not_executed = {
        r.address: reason
        for r in resources
        if r.config not in excluded and (reason := not_executed_reason(r.type)) is not None
    }
    return {
        "planned": resources,
        "not_emulated": not_emulated,
        "not_executed": not_executed,
        "applied": len([r for r in resources if r.config not in excluded]),
    }


def check_plan_covers_only_the_gaps(tf_dir: Path, not_emulated: Mapping[str, str]) -> list[str]:
    """A full plan after the apply creates exactly the not-emulated resources, nothing else.

    Without a refresh: apply_infra's refresh-only apply has just read every resource
    from the emulator into the state, and nothing has touched them since, so reading
    them all again would compare the configuration with the same values (drift, and a
    resource gone, already show there: the first as an update, the second as a create).
    """
    plan = tf_dir / "after.plan"
    # No lock: this plan writes no state, and the hand-off reads outputs meanwhile.
    terraform(
        ["plan", "-input=false", "-no-color", "-refresh=false", "-lock=false", PARALLELISM,
         f"-out={plan}"],
        tf_dir,
    )  # fmt: skip
    problems = []
    planned_configs = set()
    for change in show_plan(plan, tf_dir):
        if change.actions in (("no-op",), ("read",)):
            continue
        planned_configs.add(change.config)
        if change.config not in not_emulated or change.actions != ("create",):
            problems.append(f"plan after apply: {'/'.join(change.actions)} {change.address}")
    unplanned = sorted(set(not_emulated) - planned_configs)
    if unplanned:
        problems.append(f"plan after apply does not cover {unplanned}")
    return problems


def _plan_step(
    tf_dir: Path, not_emulated: Mapping[str, str], steps: dict[str, float]
) -> list[str]:
    with _step(steps, "terraform plan: only the not emulated left"):
        return check_plan_covers_only_the_gaps(tf_dir, not_emulated)


def _outputs(tf_dir: Path) -> dict[str, Any]:
    document = json.loads(terraform(["output", "-json"], tf_dir))
    return {name: entry["value"] for name, entry in document.items()}


def _run(argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float = 900) -> str:
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RehearsalError(f"{Path(argv[1]).name} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def deploy_app(work: Path, tf_dir: Path, url: str, stage: str) -> Path:
    """Hand-off, chalice deploy and post_deploy on a copy of chalice_app/; the copy."""
    app_dir = work / "chalice_app"
    shutil.copytree(
        ROOT / "chalice_app",
        app_dir,
        ignore=shutil.ignore_patterns("deployments", "deployed", "__pycache__"),
    )
    config = app_dir / ".chalice" / "config.json"
    env = _aws_env(url)
    python = sys.executable
    scripts = ROOT / "scripts"
    _run(
        [python, str(scripts / "tf_outputs_to_chalice.py"), "--tf-dir", str(tf_dir),
         "--stage", stage, "--config", str(config)],
        ROOT,
        env,
    )  # fmt: skip
    chalice = str(Path(sys.executable).with_name("chalice"))
    _run([chalice, "deploy", "--stage", stage], app_dir, env, timeout=1200)
    _run(
        [python, str(scripts / "post_deploy.py"), "--stage", stage, "--config", str(config)],
        ROOT,
        env,
    )
    return app_dir


def _api_stage(app_dir: Path, stage: str) -> str:
    """The API Gateway stage Chalice deployed (post_deploy reads it the same way)."""
    config = app_dir / ".chalice" / "config.json"
    return rest_api(config, stage)[1]


def _load_app(environment: Mapping[str, str]) -> ModuleType:
    os.environ.update({**environment, "AWS_DEFAULT_REGION": REGION})
    return importlib.import_module("app")


def check_deployment(
    url: str, outputs: Mapping[str, Any], stage: str, api_stage: str
) -> dict[str, Any]:
    """Every control-plane check; counts and problems."""
    environment = environment_variables(outputs)
    app = _load_app(environment).app
    lam, iam = _client(url, "lambda"), _client(url, "iam")
    problems = checks.check_functions(
        lam, iam, outputs["lambda_function_names"], environment, outputs["lambda_iam_policies"]
    )
    failure_queue = outputs["stream_failure_queue_arn"]
    settings = {
        source.name: desired_settings(source.name, failure_queue)
        for source in checks.mapping_sources(app)
    }
    mappings, mapping_problems = checks.check_mappings(
        lam, app, f"{app.app_name}-{stage}", settings
    )
    routes, api_problems = checks.check_api(_client(url, "apigateway"), app)
    replay_problems = check_replay_state_machine(url, outputs)
    protection, protection_problems = checks.check_api_protection(
        _client(url, "apigateway"),
        _client(url, "wafv2"),
        app,
        api_stage,
        outputs["api_throttling"],
        outputs["api_web_acl_arn"],
    )
    return {
        "functions": len(outputs["lambda_function_names"]),
        "mappings": mappings,
        "routes": routes,
        "api_protection": protection,
        "replay_state_machine": not replay_problems,
        "problems": [
            *problems,
            *mapping_problems,
            *api_problems,
            *protection_problems,
            *replay_problems,
        ],
    }


def check_replay_state_machine(url: str, outputs: Mapping[str, Any]) -> list[str]:
    """The replay state machine runs the module's definition and invokes the deployed worker."""
    values = outputs["replay_definition_values"]
    sfn, lam = _client(url, "stepfunctions"), _client(url, "lambda")
    machine = sfn.describe_state_machine(stateMachineArn=outputs["replay_state_machine_arn"])
    worker_name = outputs["lambda_function_names"]["replay_worker"]
    worker = lam.get_function(FunctionName=worker_name)["Configuration"]
    problems = []
    if json.loads(machine["definition"]) != render_definition(values):
        problems.append("replay: the deployed definition is not the module's, rendered")
    if worker["FunctionArn"] != values["worker_function_arn"]:
        problems.append(
            f"replay: the definition invokes {values['worker_function_arn']}, "
            f"not the deployed worker {worker['FunctionArn']}"
        )
    expected = outputs["replay_worker"]
    deployed = {"memory_mb": worker["MemorySize"], "timeout_seconds": worker["Timeout"]}
    if deployed != expected:
        problems.append(f"replay: the worker runs with {deployed}, Terraform says {expected}")
    if machine.get("tracingConfiguration", {}).get("enabled") is not True:
        problems.append("replay: the state machine is not traced")
    if machine.get("loggingConfiguration", {}).get("level") != "ALL":
        problems.append("replay: the state machine's executions are not logged")
    return problems


def _empty_bucket(s3: Any, bucket: str) -> None:
    # Terraform deletes no objects (no force_destroy). The TLS-only bucket
    # policy denies these plain-HTTP calls: it goes first.
    s3.delete_bucket_policy(Bucket=bucket)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])


def destroy_infra(tf_dir: Path, url: str, planned: list[PlannedResource]) -> None:
    """terraform destroy, as an operator tearing down would run it.

    First, through the API: buckets are emptied, table deletion protection is
    switched off (DynamoDB refuses otherwise), and OpenSearch domains are
    deleted and dropped from the state (see SLOW_TYPES).
    """
    (tf_dir / "rehearsal_imports.tf").unlink(missing_ok=True)
    state = set(terraform(["state", "list"], tf_dir).split())
    dynamodb, opensearch = _client(url, "dynamodb"), _client(url, "opensearch")
    s3 = _client(url, "s3")
    buckets = [
        r.after["bucket"] for r in planned if r.type == "aws_s3_bucket" and r.address in state
    ]
    for bucket in buckets:  # S3 writes access logs on every request until logging stops
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
    for bucket in buckets:
        _empty_bucket(s3, bucket)
    for resource in planned:
        if resource.address not in state:
            continue
        if resource.type == "aws_dynamodb_table" and resource.after.get(
            "deletion_protection_enabled"
        ):
            dynamodb.update_table(
                TableName=resource.after["name"], DeletionProtectionEnabled=False
            )
        if resource.type in SLOW_TYPES:
            terraform(["state", "rm", resource.address], tf_dir)
            opensearch.delete_domain(DomainName=resource.after["domain_name"])
    # No refresh: apply_infra's refresh-only apply wrote every resource as read
    # into the state, and what changed since (the app Chalice deployed beside
    # them, the bucket settings and table protection above) changes nothing about
    # deleting them; reading them all again would only add time.
    output = terraform(
        ["destroy", "-auto-approve", "-input=false", "-no-color", "-refresh=false", PARALLELISM],
        tf_dir,
    )
    (tf_dir / "destroy.log").write_text(output)
    left = terraform(["state", "list"], tf_dir).split()
    if left:
        raise RehearsalError(f"terraform destroy left {left}")


def rehearse(work: Path, stage: str, summary: dict[str, Any]) -> None:
    """The whole rehearsal in ``work``, filling ``summary`` as it goes."""
    steps: dict[str, float] = {}
    summary.update(
        {"ok": False, "stage": stage, "patches": [p.name for p in PATCHES], "steps": steps}
    )
    problems: list[str] = []
    summary["problems"] = problems
    with moto_server(work / "moto.log") as url:
        with _step(steps, "terraform init"):
            tf_dir = prepare_infra(work, url)
        applied = apply_infra(tf_dir, url, steps)
        summary["resources"] = applied["applied"]
        summary["not_emulated"] = [
            {"address": a, "reason": r}
            for a, r in {**applied["not_emulated"], **applied["not_executed"]}.items()
        ]
        outputs = _outputs(tf_dir)
        # The plan reads only the configuration and the state, which the deployment
        # does not change (Chalice's resources are not Terraform's): it runs beside
        # it. Not beside the checks: they set os.environ, which terraform() reads.
        with ThreadPoolExecutor(max_workers=1) as beside:
            plan_problems = beside.submit(_plan_step, tf_dir, applied["not_emulated"], steps)
            with _step(steps, "hand-off, chalice deploy, post_deploy"):
                app_dir = deploy_app(work, tf_dir, url, stage)
            problems += plan_problems.result()
        with _step(steps, "checks"):
            deployed = check_deployment(url, outputs, stage, _api_stage(app_dir, stage))
        problems += deployed.pop("problems")
        summary.update(deployed)
        with _step(steps, "terraform destroy"):
            destroy_infra(tf_dir, url, applied["planned"])
        summary["destroyed"] = True
    summary["ok"] = not problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--keep-dir", type=Path, help="work here and keep it (default: temp)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    missing = missing_tooling()
    if missing:
        print(json.dumps({"ok": None, "skipped": missing}))
        return 0
    summary: dict[str, Any] = {}
    try:
        if args.keep_dir:
            args.keep_dir.mkdir(parents=True, exist_ok=True)
            rehearse(args.keep_dir, args.stage, summary)
        else:
            with tempfile.TemporaryDirectory(prefix="deploy-rehearsal-") as work:
                rehearse(Path(work), args.stage, summary)
    except Exception as exc:  # any failure still ends with the JSON summary
        _log(f"{type(exc).__name__}: {exc}")
        summary["ok"] = False
        summary["error"] = " ".join(str(exc).split())[-500:]
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, sort_keys=True))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
