"""Each function's IAM policy allows what its code calls, and nothing beyond declared allowances.

scripts/audit_iam_calls.py runs every route of the API and a person's whole
lifecycle through every function, in-process on moto, and records the IAM
requests of each AWS call they make. The iam module is rendered by Terraform
for the very resources those calls reached (its own JSON, not a reading of the
HCL), and moto's IAM evaluator decides. No list of actions is kept here: what
a policy may grant beyond the recorded calls is declared below (each with
its reason) and the statements a subscriber's declared needs add.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from audit_iam_calls import api_search_requests

from chalicelib import resources
from local_aws.iam_audit import IamRequest, allows, covered, grants
from local_aws.terraform_cli import missing_tooling, provider_mirror
from local_aws.terraform_cli import terraform as run_terraform
from tests.infra import hcl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_tooling() is not None, reason=str(missing_tooling())),
]

ROOT = Path(__file__).resolve().parents[2]
APP, STAGE = "event-platform", "dev"
SEARCH_ALIAS = "events"

# Statements granted beyond the calls the code makes, by Sid ("*": every action of
# it): what AWS services do with a function's role on its behalf.
EVERY_FUNCTION: dict[str, dict[str, str]] = {
    "Logs": {"*": "the Lambda runtime writes the function's logs with its role"},
    "XRayTracing": {"*": "active tracing: the runtime sends the function's trace segments"},
    "TableKey": {"*": "DynamoDB uses the tables' KMS key on the caller's behalf"},
    "ReadLedgerStream": {"*": "the relay's event source mapping reads the ledger's stream"},
    "ReadEventStream": {"*": "a Kinesis event source mapping reads the stream with the role"},
    "StreamKey": {
        "*": "Kinesis encrypts (the relay's puts) or decrypts (a mapping's reads) with the "
        "stream key on the caller's behalf"
    },
    "OnFailure": {"*": "the mapping sends a record that exhausted its retries to this queue"},
    "MessagingKey": {
        "*": "SNS and SQS encrypt with the messaging key on the caller's behalf "
        "(publishing to the topic, the on-failure queue)"
    },
    "ConsumeQueue": {
        "*": "the SQS mapping receives, deletes and hides messages with the role; after a "
        "partial failure the batch processor resolves its queue and deletes the successes"
    },
    "QueueKey": {"*": "SQS decrypts the messages for their receiver (the mapping)"},
}
UNRECORDED_SEARCH_REQUESTS = (
    "its OpenSearch requests are not recorded in-process (the pipeline indexes into SQLite); "
    "tests/unit/test_search_opensearch_contract.py covers them"
)
BY_FUNCTION: dict[str, dict[str, dict[str, str]]] = {
    "projector": {
        "ReadLedger": {"*": "fills a version gap from the ledger; the flows arrive in order"},
        "WriteReadModels": {"dynamodb:DeleteItem": "the early-adopter list, when rebuilt"},
    },
    "search_erasure": {"RedactSearchDocuments": {"*": UNRECORDED_SEARCH_REQUESTS}},
    "search_late_redaction": {"RedactSearchDocuments": {"*": UNRECORDED_SEARCH_REQUESTS}},
    "replay_worker": {
        "ReadLedger": {
            "*": "settles a due loyalty state and catches the new generation up from the "
            "ledger; the flows' replay has neither to do"
        },
        "ArchiveKey": {"*": "S3 decrypts and encrypts the archive's objects with its key"},
        "WriteReadModels": {"dynamodb:DeleteItem": "the early-adopter list, when rebuilt empty"},
    },
}
EVERY_SUBSCRIBER: dict[str, dict[str, str]] = {
    # One statement for every subscriber's own versioned table.
    "WriteOwnTable": {
        "dynamodb:GetItem": "the record consumers read their record first; the welcome email "
        "claims with a conditional put alone",
        "dynamodb:UpdateItem": "the welcome email updates its claim; the record consumers put",
    },
}
# Statements a subscriber's declared need adds (resources.Need, infra/modules/iam):
# granted because declared, whether or not the flows needed it (a consumer reads the
# ledger only to fill a gap, when SQS delivers out of order).
NEED_STATEMENTS: dict[str, set[str]] = {
    "read_ledger": {"ReadLedger"},
    "open_personal_data": {"ReadPersonalDataKeys", "OpenPersonalData"},
    "send_email": {"SendEmail"},
    "delete_identity": {"DeleteIdentity"},
}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    """GIVEN the IAM requests each function made through every flow (in-process on moto)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_iam_calls.py")],
        cwd=ROOT / "scripts",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _module_inputs(found: dict[str, Any]) -> dict[str, Any]:
    """The iam module's inputs: the resources the flows reached, the rest made up."""
    account = f"{found['region']}:{found['account_id']}"
    provisioned = found["resources"]
    known: dict[str, Any] = {
        "app_name": APP,
        "stage": STAGE,
        "subscribers": {
            s.handler: {"queue": s.key, "table": s.table.key, "needs": sorted(s.needs)}
            for s in resources.SUBSCRIBERS
        },
        "email_sender": provisioned["email_sender"] or None,
        "table_arns": provisioned["table_arns"],
        "state_kms_key_arn": f"arn:aws:kms:{account}:key/state",
        "event_stream_arn": provisioned["event_stream_arn"],
        "event_stream_kms_key_arn": f"arn:aws:kms:{account}:key/event-log",
        "topic_arn": provisioned["topic_arn"],
        "queue_arns": provisioned["queue_arns"],
        "stream_failure_queue_arn": provisioned["stream_failure_queue_arn"],
        "search_redaction_queue_arn": provisioned["search_redaction_queue_arn"],
        "pubsub_kms_key_arn": f"arn:aws:kms:{account}:key/pubsub",
        "personal_data_kms_key_arn": provisioned["personal_data_kms_key_arn"],
        "opensearch_domain_arn": _domain_arn(found),
        "opensearch_read_alias": SEARCH_ALIAS,
        "user_pool_arn": provisioned["user_pool_arn"],
        "archive_bucket_arn": provisioned["archive_bucket_arn"],
        "archive_kms_key_arn": f"arn:aws:kms:{account}:key/archive",
    }
    variables = hcl.module("modules/iam").variables
    unknown = sorted(n for n, v in variables.items() if n not in known and "default" not in v)
    assert not unknown, f"give {unknown} a value in _module_inputs (the resource the flows used)"
    return {name: known[name] for name in variables if name in known}


def _domain_arn(found: dict[str, Any]) -> str:
    return f"arn:aws:es:{found['region']}:{found['account_id']}:domain/bench-search"


@pytest.fixture(scope="module")
def policies(
    recorded: dict[str, Any], moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """GIVEN infra/modules/iam rendered by Terraform for those resources: policy by handler."""
    work = tmp_path_factory.mktemp("iam")
    override = (hcl.INFRA / "local" / "provider_override.tf.example").read_text()
    (work / "provider.tf").write_text(override.replace("http://127.0.0.1:5000", moto_endpoint))
    shutil.copy(hcl.INFRA / "versions.tf", work / "versions.tf")
    module = {"source": str(hcl.INFRA / "modules" / "iam"), **_module_inputs(recorded)}
    config = {
        "module": {"iam": module},
        "output": {"policies": {"value": "${module.iam.policies}"}},
    }
    (work / "main.tf.json").write_text(json.dumps(config, indent=2))
    run_terraform(
        ["init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={provider_mirror()}"],
        work,
    )
    run_terraform(["apply", "-auto-approve", "-input=false", "-no-color"], work)
    rendered = json.loads(run_terraform(["output", "-json", "policies"], work))
    return {handler: json.loads(policy) for handler, policy in rendered.items()}


def _requests(recorded: dict[str, Any], handler: str) -> list[IamRequest]:
    made = [
        IamRequest(r["action"], r["resource"], tuple(r["context"].items()))
        for r in recorded["functions"][handler]
    ]
    if handler == "api_handler":
        made += api_search_requests(_domain_arn(recorded), SEARCH_ALIAS)
    return made


def _allowance(handler: str, sid: str, action: str) -> str | None:
    """Why ``handler``'s policy may grant ``action`` of statement ``sid`` without a call."""
    subscriber = next((s for s in resources.SUBSCRIBERS if s.handler == handler), None)
    declared = [EVERY_FUNCTION, BY_FUNCTION.get(handler, {})]
    if subscriber is not None:
        declared.append(EVERY_SUBSCRIBER)
        for need in subscriber.needs:
            if sid in NEED_STATEMENTS.get(need.value, set()):
                return f"declared need {need.value}"
    for allowances in declared:
        reasons = allowances.get(sid, {})
        if "*" in reasons or action in reasons:
            return reasons.get(action) or reasons["*"]
    return None


def test_the_flows_run_every_route_and_every_function(
    recorded: dict[str, Any], policies: dict[str, dict[str, Any]]
) -> None:
    # GIVEN the app's routes
    routes = _app_routes()
    # THEN the flows requested every route, and recorded every function that has a policy
    assert set(recorded["routes"]) == routes
    assert set(recorded["functions"]) == set(policies)


def _app_routes() -> set[str]:
    """Every route of app.py, read from its decorators (importing it needs the settings)."""
    text = (ROOT / "chalice_app" / "app.py").read_text()
    found = set()
    for line in text.splitlines():
        if line.startswith("@app.route("):
            path = line.split('"')[1]
            methods = line.split("methods=[")[1].split("]")[0].replace('"', "").split(",")
            found |= {f"{m.strip()} {path}" for m in methods}
    return found


def test_every_call_a_function_makes_is_allowed_by_its_policy(
    recorded: dict[str, Any], policies: dict[str, dict[str, Any]]
) -> None:
    # WHEN each recorded request is evaluated against its function's policy
    denied = [
        (handler, r.action, r.resource)
        for handler in policies
        for r in _requests(recorded, handler)
        if not allows(policies[handler], r)
    ]
    # THEN IAM would allow every one of them
    assert denied == []


def test_no_policy_grants_more_than_the_calls_and_the_declared_allowances(
    recorded: dict[str, Any], policies: dict[str, dict[str, Any]]
) -> None:
    # WHEN each (action, resource) a policy grants is matched with the calls that needed it
    beyond = [
        (handler, g.sid, g.action, g.resource)
        for handler, policy in policies.items()
        for g in grants(policy)
        if not covered(g, _requests(recorded, handler))
        and _allowance(handler, g.sid, g.action) is None
    ]
    # THEN every grant was needed by a call, or is declared above with its reason
    assert beyond == []


def test_the_replay_worker_cannot_rewrite_the_archive_or_the_ledger(
    recorded: dict[str, Any], policies: dict[str, dict[str, Any]]
) -> None:
    # GIVEN the replay worker's policy and what it must never do
    worker = policies[resources.REPLAY.handler]
    archive = recorded["resources"]["archive_bucket_arn"]
    ledger = recorded["resources"]["table_arns"]["ledger"]
    forbidden = [
        IamRequest("s3:PutObject", f"{archive}/events/year=2026/month=01/day=01/x"),
        IamRequest("s3:DeleteObject", f"{archive}/events/buckets=64/bucket=01/x"),
        IamRequest("s3:GetObject", f"{archive}/search-failed/x"),
        IamRequest("dynamodb:PutItem", ledger),
        IamRequest("dynamodb:DeleteItem", ledger),
    ]
    # WHEN each is evaluated against it
    # THEN IAM denies every one; its parts prefix it may write
    assert [r for r in forbidden if allows(worker, r)] == []
    assert allows(worker, IamRequest("s3:PutObject", f"{archive}/replay/run/part-00001.pickle"))


def test_the_api_cannot_read_the_archive_rewrite_the_ledger_or_write_the_index(
    recorded: dict[str, Any], policies: dict[str, dict[str, Any]]
) -> None:
    # GIVEN the API's policy and what an attacker running code in it would try
    api = policies["api_handler"]
    ledger = recorded["resources"]["table_arns"]["ledger"]
    domain = _domain_arn(recorded)
    refused = [
        IamRequest("s3:GetObject", "arn:aws:s3:::bench-archive/search-failed/x.json"),
        IamRequest("s3:ListBucket", "arn:aws:s3:::bench-archive"),
        IamRequest("kms:Decrypt", f"arn:aws:kms:{recorded['region']}:123456789012:key/archive"),
        *(IamRequest(f"dynamodb:{a}", ledger) for a in ("DeleteItem", "UpdateItem")),
        IamRequest("dynamodb:BatchWriteItem", ledger),
        IamRequest("es:ESHttpPost", f"{domain}/_bulk"),
        IamRequest("es:ESHttpPost", f"{domain}/{SEARCH_ALIAS}/_delete_by_query"),
        IamRequest("es:ESHttpPost", f"{domain}/other-index/_search"),
        IamRequest("es:ESHttpPut", f"{domain}/{SEARCH_ALIAS}"),
    ]
    # THEN IAM refuses each, while the API's own search through the read alias is allowed
    assert [r for r in refused if allows(api, r)] == []
    search = api_search_requests(domain, SEARCH_ALIAS)
    assert search == [IamRequest("es:ESHttpPost", f"{domain}/{SEARCH_ALIAS}/_search")]
    assert all(allows(api, r) for r in search)
