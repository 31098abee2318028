"""Where moto server differs from AWS on the deployment and operations paths, patched in one place.

Each patch names the upstream moto behaviour (moto 5.2.5) and what AWS does,
and tests/handler/test_moto_patches.py shows the moto behaviour it works around:
when moto fixes one, that test fails and the patch can go. Only the moto server
of the deploy rehearsal and of the local stack (``python -m local_aws.moto_server``)
applies them.

What moto cannot create at all is not patched here: ``NOT_EMULATED`` lists it,
and the rehearsal leaves it out of the apply and reports it. What moto creates
but does not run is ``NOT_EXECUTED``: the rehearsal applies it, checks its
wiring, and reports the gap in ``not_emulated`` too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# setattr, or a test's monkeypatch.setattr (undone after the test)
Setter = Callable[[Any, str, Any], None]

__all__ = [
    "NOT_EMULATED",
    "NOT_EXECUTED",
    "PATCHES",
    "NotEmulated",
    "NotExecuted",
    "Patch",
    "apply_all",
    "not_emulated_reason",
    "not_executed_reason",
]


@dataclass(frozen=True)
class Patch:
    """One moto behaviour replaced by AWS's."""

    name: str
    moto: str
    aws: str
    apply: Callable[[Setter], None]


@dataclass(frozen=True)
class NotEmulated:
    """A kind of Terraform resource moto cannot create, told apart by its planned values."""

    resource_type: str
    attribute: str
    value: Any
    reason: str


# moto.firehose.models.find_destination_config_in_args knows S3, ExtendedS3,
# HttpEndpoint, Elasticsearch, Redshift, Snowflake, Iceberg and Splunk; an
# AmazonopensearchserviceDestinationConfiguration is refused with
# "Exactly one destination configuration is supported for a Firehose".
NOT_EMULATED: tuple[NotEmulated, ...] = (
    NotEmulated(
        resource_type="aws_kinesis_firehose_delivery_stream",
        attribute="destination",
        value="opensearch",
        reason=(
            "moto has no Firehose OpenSearch destination "
            "('Exactly one destination configuration is supported')"
        ),
    ),
)


@dataclass(frozen=True)
class NotExecuted:
    """A kind of Terraform resource moto creates, but whose runs it does not emulate."""

    resource_type: str
    reason: str


# moto.stepfunctions (5.2.5) stores a state machine and records its executions,
# but as configured for the rehearsal runs none of their states (no Task invokes
# its Lambda: moto's optional `execute_state_machine` parser is off, and it would
# invoke moto's Lambda, not the app), and list_map_runs / describe_map_run are
# stubs ([] and {}).
# tests/handler/test_replay_state_machine.py shows it, and runs the deployed
# definition against the local worker instead.
NOT_EXECUTED: tuple[NotExecuted, ...] = (
    NotExecuted(
        resource_type="aws_sfn_state_machine",
        reason=(
            "moto creates the state machine but runs no execution of it: no Task invokes "
            "its Lambda and no Distributed Map run exists (list_map_runs is a stub); "
            "tests/handler/test_replay_state_machine.py runs its definition on the worker"
        ),
    ),
)


def not_executed_reason(resource_type: str) -> str | None:
    """Why moto does not run what a resource of this type defines, or None if it does."""
    for gap in NOT_EXECUTED:
        if gap.resource_type == resource_type:
            return gap.reason
    return None


def not_emulated_reason(resource_type: str, values: dict[str, Any]) -> str | None:
    """Why moto cannot create a resource with these planned values, or None if it can."""
    for gap in NOT_EMULATED:
        if gap.resource_type == resource_type and values.get(gap.attribute) == gap.value:
            return gap.reason
    return None


def _sqs_redrive_allow_policy(set_: Setter) -> None:
    # moto: Queue stores RedriveAllowPolicy but BASE_ATTRIBUTES omits it, so
    # GetQueueAttributes never returns it (and rejects the name when asked for
    # it alone). AWS returns it; the provider's aws_sqs_queue_redrive_allow_policy
    # polls until it reads back what it set, i.e. forever on moto.
    from moto.sqs.models import Queue

    def get(queue: Queue) -> str | None:
        # AWS drops the attribute when it is set to "".
        return queue.__dict__.get("_redrive_allow_policy") or None

    def put(queue: Queue, value: Any) -> None:
        queue.__dict__["_redrive_allow_policy"] = (
            json.dumps(value) if isinstance(value, dict) else value
        )

    set_(Queue, "redrive_allow_policy", property(get, put))
    set_(Queue, "BASE_ATTRIBUTES", [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"])


def _sqs_set_attributes_keeps_the_rest(set_: Setter) -> None:
    # moto: Queue._set_attributes ends with `self.policy = attributes.get("Policy")`,
    # so any SetQueueAttributes without Policy (e.g. the provider updating
    # RedrivePolicy) deletes the queue's policy. AWS changes only what is given.
    # moto also returns RedrivePolicy re-serialised with spaces, which the
    # provider plans as a change on every run; AWS returns it compact.
    from moto.sqs.models import Queue

    original_set = Queue._set_attributes
    original_attributes = Queue.attributes

    def _set_attributes(queue: Queue, attributes: dict[str, Any], now: Any = None) -> None:
        policy = queue.__dict__.get("_policy_json")
        original_set(queue, attributes, now)
        if "Policy" not in attributes and policy is not None:
            queue._policy_json = policy

    def attributes(queue: Queue) -> dict[str, Any]:
        result = dict(original_attributes.fget(queue))  # type: ignore[attr-defined]
        if queue.redrive_policy:
            result["RedrivePolicy"] = json.dumps(queue.redrive_policy, separators=(",", ":"))
        return result

    set_(Queue, "_set_attributes", _set_attributes)
    set_(Queue, "attributes", property(attributes))


def _sqs_message_move_tasks(set_: Setter) -> None:
    # moto: StartMessageMoveTask and ListMessageMoveTasks are not implemented
    # (NotImplementedError, a 500 from moto server that clients retry for
    # seconds). AWS moves a dead-letter queue's messages, attributes included,
    # to the destination (by default the queue whose DLQ it is) as a task, and
    # lists the task with its status. The patch moves them within the call, so
    # the task is COMPLETED when it is listed (a task AWS finished at once).
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.responses import SQSResponse

    def start_message_move_task(self: Any) -> Any:
        source_arn = self._get_param("SourceArn")
        source = self.sqs_backend.get_queue(source_arn.rsplit(":", 1)[-1])
        sources_of = self.sqs_backend.list_dead_letter_source_queues(source.name)
        if not sources_of:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        destination_arn = self._get_param("DestinationArn")
        if destination_arn is None and len(sources_of) != 1:
            raise InvalidParameterValue("DestinationArn is required for this source queue.")
        destination = (
            self.sqs_backend.get_queue(destination_arn.rsplit(":", 1)[-1])
            if destination_arn
            else sources_of[0]
        )
        to_move = len(source.messages)
        moved = 0
        while moved < to_move:
            batch = self.sqs_backend.receive_message(
                source.name, min(10, to_move - moved), 0, 30, ["All"]
            )
            if not batch:
                break
            for message in batch:
                self.sqs_backend.send_message(
                    destination.name, message.body, dict(message.message_attributes)
                )
                self.sqs_backend.delete_message(source.name, message.receipt_handle)
            moved += len(batch)
        handle = f"{source_arn}#{len(_tasks(self.sqs_backend, source_arn))}"
        _tasks(self.sqs_backend, source_arn).insert(
            0,
            {
                "TaskHandle": handle,
                "Status": "COMPLETED",
                "SourceArn": source_arn,
                "DestinationArn": destination.queue_arn,
                "ApproximateNumberOfMessagesMoved": moved,
                "ApproximateNumberOfMessagesToMove": to_move,
                "StartedTimestamp": int(time.time() * 1000),
            },
        )
        return ActionResult({"TaskHandle": handle})

    def list_message_move_tasks(self: Any) -> Any:
        source_arn = self._get_param("SourceArn")
        self.sqs_backend.get_queue(source_arn.rsplit(":", 1)[-1])
        limit = int(self._get_param("MaxResults") or 1)
        return ActionResult({"Results": _tasks(self.sqs_backend, source_arn)[:limit]})

    set_(SQSResponse, "start_message_move_task", start_message_move_task)
    set_(SQSResponse, "list_message_move_tasks", list_message_move_tasks)


def _tasks(backend: Any, source_arn: str) -> list[dict[str, Any]]:
    """The message move tasks of one source queue, newest first, kept on its backend."""
    return backend.__dict__.setdefault("_message_move_tasks", {}).setdefault(source_arn, [])


def _apigateway_swagger_2(set_: Setter) -> None:
    # moto: import_rest_api reads api_doc["info"]["description"] (KeyError on a
    # document without one, like Chalice's), and put_rest_api refuses any
    # Swagger 2.0 document (InvalidOpenApiDocVersionException). AWS imports and
    # puts both Swagger 2.0 and OpenAPI 3; the paths moto reads (methods,
    # responses, x-amazon-apigateway-integration) are the same in both.
    from moto.apigateway.models import APIGatewayBackend

    original_import = APIGatewayBackend.import_rest_api
    original_put = APIGatewayBackend.put_rest_api

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        info = {"description": None, **api_doc.get("info", {})}
        return original_import(self, {**api_doc, "info": info}, fail_on_warnings)

    def put_rest_api(
        self: Any,
        function_id: str,
        api_doc: dict[str, Any],
        fail_on_warnings: bool,
        mode: str = "merge",
    ) -> Any:
        if api_doc.get("swagger") == "2.0":
            api_doc = {k: v for k, v in api_doc.items() if k != "swagger"}
        return original_put(self, function_id, api_doc, fail_on_warnings, mode)

    set_(APIGatewayBackend, "import_rest_api", import_rest_api)
    set_(APIGatewayBackend, "put_rest_api", put_rest_api)


def _function_name(name_or_arn: str) -> str:
    # name, partial ARN (123456789012:function:name) or ARN, with or without qualifier
    if ":function:" in name_or_arn:
        return name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
    return name_or_arn


def _lambda_mappings_by_function_arn(set_: Setter) -> None:
    # moto: list_event_source_mappings(FunctionName=X) keeps mappings whose
    # FunctionName equals X as given at creation, so a mapping created with
    # the function ARN (as Chalice does) is not found by name and vice versa.
    # AWS accepts a name, an ARN or a partial ARN and lists the function's mappings.
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.list_event_source_mappings

    def list_event_source_mappings(self: Any, event_source_arn: str, function_name: str) -> Any:
        mappings = original(self, event_source_arn, "")
        if not function_name:
            return mappings
        wanted = _function_name(function_name)
        return [m for m in mappings if _function_name(m.function_arn) == wanted]

    set_(LambdaBackend, "list_event_source_mappings", list_event_source_mappings)


def _kinesis_create_stream_tags(set_: Setter) -> None:
    # moto: KinesisResponse.create_stream ignores the Tags parameter, so a
    # stream created with tags (the provider's default_tags) has none and the
    # next plan wants to add them. AWS tags the stream at creation.
    from moto.kinesis.responses import KinesisResponse

    original = KinesisResponse.create_stream

    def create_stream(self: Any) -> Any:
        response = original(self)
        tags = self._get_param("Tags")
        if tags:
            self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
        return response

    set_(KinesisResponse, "create_stream", create_stream)


def _dynamodb_delete_missing_table_names_it(set_: Setter) -> None:
    # moto: DeleteTable of a table that does not exist answers
    # ResourceNotFoundException "Requested resource not found" (its DescribeTable
    # already names the table). AWS answers "Requested resource not found: Table:
    # <name> not found", and the AWS provider counts exactly that as already
    # deleted. It matters when the provider's SDK sends a DeleteTable again
    # because the first answer was lost on the way back (a connection error is
    # retried whatever the operation): against AWS the second one is harmless;
    # against unpatched moto it failed a whole `terraform destroy`.
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.delete_table

    def delete_table(self: Any, name: str) -> Any:
        try:
            return original(self, name)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(table_name=name) from None

    set_(DynamoDBBackend, "delete_table", delete_table)


def _sesv2_identity_tags_by_aws_arn(set_: Setter) -> None:
    # moto: CreateEmailIdentity files the identity's tags under
    # arn:...:ses:<region>:<account>:email-identity/<name>, while the identity's
    # ARN in AWS (and the provider's ListTagsForResource) is ...:identity/<name>,
    # so tags given at creation (default_tags) never read back.
    from moto.sesv2.models import SESV2Backend
    from moto.utilities.utils import get_partition

    original = SESV2Backend.create_email_identity

    def create_email_identity(
        self: Any,
        email_identity: str,
        tags: list[dict[str, str]] | None,
        dkim_signing_attributes: object | None,
        configuration_set_name: str | None,
    ) -> Any:
        identity = original(
            self, email_identity, tags, dkim_signing_attributes, configuration_set_name
        )
        if tags:
            partition = get_partition(self.region_name)
            arn = (
                f"arn:{partition}:ses:{self.region_name}:{self.account_id}"
                f":identity/{email_identity}"
            )
            self.core_backend.tagger.tag_resource(arn, tags)
        return identity

    set_(SESV2Backend, "create_email_identity", create_email_identity)


def _asl_problems(states: Any, where: str) -> list[str]:
    """What makes an ASL state list invalid, as far as the shape goes (not every rule AWS has)."""
    if not isinstance(states, dict) or not isinstance(states.get("States"), dict):
        return [f"{where}: no States"]
    names = states["States"]
    problems = [] if states.get("StartAt") in names else [f"{where}: StartAt names no state"]
    for name, state in names.items():
        targets = [state.get("Next"), *(c.get("Next") for c in state.get("Catch", []))]
        problems += [f"{where}/{name}: Next {t!r} names no state" for t in targets
                     if t is not None and t not in names]  # fmt: skip
        ends = state.get("End") or state.get("Type") in ("Succeed", "Fail")
        if state.get("Next") is None and not ends:
            problems.append(f"{where}/{name}: neither Next nor End")
        if state.get("Type") == "Map":
            inner = state.get("ItemProcessor") or state.get("Iterator")
            problems += _asl_problems(inner, f"{where}/{name}")
    return problems


def _sfn_validate_definition(set_: Setter) -> None:
    # moto: ValidateStateMachineDefinition is not implemented (NotImplementedError),
    # and the AWS provider calls it when it plans an aws_sfn_state_machine, so no
    # plan of one succeeds. AWS answers OK, or FAIL with diagnostics: the patch
    # checks the document's shape (JSON, StartAt, every Next and End, nested
    # Map processors), not every rule AWS applies.
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> Any:
        try:
            problems = _asl_problems(json.loads(self._get_param("definition")), "")
        except ValueError as exc:
            problems = [f"not JSON: {exc}"]
        diagnostics = [
            {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": problem}
            for problem in problems
        ]
        return ActionResult({"result": "FAIL" if problems else "OK", "diagnostics": diagnostics})

    set_(
        StepFunctionResponse,
        "validate_state_machine_definition",
        validate_state_machine_definition,
    )


def _sfn_list_state_machine_versions(set_: Setter) -> None:
    # moto: ListStateMachineVersions is not implemented, though moto keeps the
    # versions CreateStateMachine(publish=True) makes. The AWS provider lists them
    # each time it reads an aws_sfn_state_machine, and retries the 500 for minutes.
    # AWS lists the published versions, newest first (none unless published).
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def list_state_machine_versions(self: Any) -> Any:
        machine = self.stepfunction_backend.describe_state_machine(
            self._get_param("stateMachineArn")
        )
        versions = sorted(machine.versions.values(), key=lambda v: -v.version)
        return ActionResult(
            {
                "stateMachineVersions": [
                    {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
                    for v in versions
                ]
            }
        )

    set_(StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions)


PATCHES: tuple[Patch, ...] = (
    Patch(
        name="sqs-redrive-allow-policy",
        moto="GetQueueAttributes never returns RedriveAllowPolicy",
        aws="GetQueueAttributes returns RedriveAllowPolicy once set",
        apply=_sqs_redrive_allow_policy,
    ),
    Patch(
        name="sqs-set-attributes-keeps-the-rest",
        moto="SetQueueAttributes without Policy deletes it; RedrivePolicy comes back with spaces",
        aws="SetQueueAttributes changes only the given attributes; RedrivePolicy is compact JSON",
        apply=_sqs_set_attributes_keeps_the_rest,
    ),
    Patch(
        name="sqs-message-move-tasks",
        moto="StartMessageMoveTask and ListMessageMoveTasks are not implemented (500)",
        aws="StartMessageMoveTask moves a DLQ's messages back; ListMessageMoveTasks shows it",
        apply=_sqs_message_move_tasks,
    ),
    Patch(
        name="apigateway-swagger-2",
        moto="ImportRestApi needs info.description; PutRestApi refuses Swagger 2.0",
        aws="ImportRestApi and PutRestApi take Swagger 2.0 or OpenAPI 3, description optional",
        apply=_apigateway_swagger_2,
    ),
    Patch(
        name="kinesis-create-stream-tags",
        moto="CreateStream ignores Tags",
        aws="CreateStream tags the new stream",
        apply=_kinesis_create_stream_tags,
    ),
    Patch(
        name="dynamodb-delete-missing-table-names-it",
        moto='DeleteTable of a missing table says "Requested resource not found"',
        aws='... says "Requested resource not found: Table: <name> not found"',
        apply=_dynamodb_delete_missing_table_names_it,
    ),
    Patch(
        name="sesv2-identity-tags-by-aws-arn",
        moto="CreateEmailIdentity tags ...:email-identity/<name>, not the identity's ARN",
        aws="an email identity's tags are those of its ARN ...:identity/<name>",
        apply=_sesv2_identity_tags_by_aws_arn,
    ),
    Patch(
        name="lambda-mappings-by-function-arn",
        moto="ListEventSourceMappings(FunctionName) matches the string used at creation",
        aws="ListEventSourceMappings(FunctionName) accepts the function's name or ARN",
        apply=_lambda_mappings_by_function_arn,
    ),
    Patch(
        name="sfn-validate-definition",
        moto="ValidateStateMachineDefinition is not implemented (a plan of a state machine fails)",
        aws="ValidateStateMachineDefinition answers OK, or FAIL with diagnostics",
        apply=_sfn_validate_definition,
    ),
    Patch(
        name="sfn-list-state-machine-versions",
        moto="ListStateMachineVersions is not implemented (reading a state machine fails)",
        aws="ListStateMachineVersions lists the published versions, newest first",
        apply=_sfn_list_state_machine_versions,
    ),
)


def apply_all(set_: Setter = setattr) -> list[str]:
    """Apply every patch to the moto models in this process (once per process); their names."""
    for patch in PATCHES:
        patch.apply(set_)
    return [patch.name for patch in PATCHES]
