"""The replay state machine's own definition, run against the local replay worker.

The ASL is rendered from infra/modules/replay/definition.asl.json as
Terraform renders it (replay_aws.render_definition), then walked state by
state here: each Task invokes the app's ``replay_worker`` handler with the
parameters the definition builds, and the Distributed Map invokes it once per
item its ItemsPath lists. moto does not run Distributed Map executions
(scripts/local_aws/moto_patches.py, DISTRIBUTED_MAP_EXECUTIONS), so this
walk is what exercises the deployed definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Final

import boto3
import orjson
import pytest
import replay as replay_script
from replay_aws import render_definition

from chalicelib.adapters.read_model_generations import POINTER_PK
from chalicelib.service.replay_worker import part_key
from chalicelib.settings import get_settings
from local_aws.moto_patches import not_executed_reason
from tests.handler.test_replay_workers import COUNT, history, put_mixed_archive

REGION: Final = "eu-west-1"
WORKER_ARN: Final = "arn:aws:lambda:eu-west-1:123456789012:function:evp-dev-replay_worker"
EXECUTION: Final = "replay-accounts-1"

Worker = Callable[[dict[str, Any]], dict[str, Any]]


class TaskFailed(Exception):
    """A Task's Lambda raised: Step Functions sees the error name of the exception."""


def _path(path: str, data: Any, context: Mapping[str, Any]) -> Any:
    """A JSONPath of the forms the definition uses: $, $.a.b, $$.A.B."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    for name in filter(None, rest.split(".")):
        root = root[name]
    return root


def _build(template: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
    """Parameters, ItemSelector or ResultSelector: ``key.$`` fields are paths."""
    built: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            built[key[:-2]] = _path(value, data, context)
        elif isinstance(value, dict):
            built[key] = _build(value, data, context)
        else:
            built[key] = value
    return built


def _with_result(data: Any, result: Any, result_path: str | None) -> Any:
    if result_path is None:
        return data
    if result_path == "$":
        return result
    out = dict(data)
    out[result_path.removeprefix("$.")] = result
    return out


def run_states(
    machine: Mapping[str, Any], data: Any, context: dict[str, Any], worker: Worker
) -> Any:
    """Walk ``machine`` from StartAt with input ``data``; its output."""
    name = machine["StartAt"]
    while True:
        state = machine["States"][name]
        kind = state["Type"]
        following, ended = state.get("Next"), state.get("End", False)
        try:
            if kind == "Task":
                assert state["Resource"] == "arn:aws:states:::lambda:invoke"
                parameters = _build(state["Parameters"], data, context)
                assert parameters["FunctionName"] == WORKER_ARN
                try:
                    result: Any = {"Payload": worker(parameters["Payload"])}
                except Exception as exc:
                    raise TaskFailed(type(exc).__name__) from exc
                if "ResultSelector" in state:
                    result = _build(state["ResultSelector"], result, context)
                data = _with_result(data, result, state.get("ResultPath", "$"))
                data = _path(state.get("OutputPath", "$"), data, context)
            elif kind == "Map":
                assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
                items = _path(state["ItemsPath"], data, context)
                failed = 0
                for index, item in enumerate(items):
                    child = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
                    try:
                        run_states(
                            state["ItemProcessor"],
                            _build(state["ItemSelector"], data, child),
                            child,
                            worker,
                        )
                    except TaskFailed:
                        failed += 1
                if failed * 100 > state["ToleratedFailurePercentage"] * len(items):
                    raise TaskFailed("States.ExceedToleratedFailureThreshold")
                data = _with_result(data, None, state["ResultPath"])
            elif kind == "Fail":
                raise AssertionError(f"execution failed: {state['Error']}: {state['Cause']}")
            else:
                raise AssertionError(f"state type {kind} is not in the replay definition")
        except TaskFailed as exc:
            catcher = next(
                (c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]), None
            )
            if catcher is None:
                raise
            data = _with_result(data, {"Error": str(exc)}, catcher["ResultPath"])
            following, ended = catcher["Next"], False
        if ended:
            return data
        name = following


def definition(max_concurrency: int = 10, tolerated: int = 0) -> Any:
    return render_definition(
        {
            "worker_function_arn": WORKER_ARN,
            "bucket_count": COUNT,
            "max_concurrency": max_concurrency,
            "tolerated_failure_percentage": tolerated,
        }
    )


def recording(app: ModuleType, calls: list[dict[str, Any]]) -> Worker:
    """The app's replay_worker handler, each invocation's payload recorded."""

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload)
        # Through JSON both ways, as Lambda's invoke carries it.
        answer = app.replay_worker(orjson.loads(orjson.dumps(payload)), None)
        return dict(orjson.loads(orjson.dumps(answer)))

    return invoke


def items(table: str) -> list[dict[str, Any]]:
    found = boto3.resource("dynamodb", region_name=REGION).Table(table).scan()["Items"]
    return sorted(found, key=lambda item: str(item["pk"]))


@pytest.fixture
def archive(chalice_app: ModuleType) -> Any:
    """GIVEN the provisioned archive with bucketed and unbucketed objects, repeats, poison."""
    settings = get_settings()
    s3 = boto3.client("s3", region_name=REGION)
    put_mixed_archive(s3, settings.archive_bucket, history())
    return s3, settings


@pytest.mark.parametrize("projection", ["accounts", "loyalty", "statements"])
def test_the_definition_run_on_the_worker_gives_the_one_process_replay(
    chalice_app: ModuleType,
    archive: Any,
    capsys: pytest.CaptureFixture[str],
    projection: str,
) -> None:
    s3, settings = archive
    # GIVEN the one-process replay of the archive, into a table of its own
    assert replay_script.main(["--projection", projection, "--table", "one"]) == 0
    local = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # WHEN the deployed definition runs with the app's worker
    calls: list[dict[str, Any]] = []
    context = {"Execution": {"Name": EXECUTION}}
    summary = run_states(
        definition(), {"projection": projection}, context, recording(chalice_app, calls)
    )
    # THEN the Map invoked the worker once per bucket, between the open and the finish
    steps = [call["step"] for call in calls]
    assert steps == ["open", *["fold"] * COUNT, "finish"]
    assert sorted(call["bucket"] for call in calls if call["step"] == "fold") == list(range(COUNT))
    # AND readers were switched to the new generation, which holds the one-process read model
    live = items(settings.table("read_models"))
    pointer = next(item for item in live if item["pk"] == POINTER_PK)
    assert pointer[f"{projection}:active"] == 1
    rebuilt = [item for item in live if item["pk"] != POINTER_PK]
    for item in rebuilt:
        item["pk"] = str(item["pk"]).replace("@1#", "#", 1)
    assert sorted(rebuilt, key=lambda item: str(item["pk"])) == items("one")
    assert len(rebuilt) > 5
    # AND the summary is the local replay's, but for the run's own figures
    varying = {"seconds", "events_per_s", "workers", "table", "generation",
               "previous_generation", "caught_up_events"}  # fmt: skip
    assert {k: v for k, v in summary.items() if k not in varying} == {
        k: v for k, v in local.items() if k not in varying
    }
    assert set(summary) == set(local)
    assert (summary["generation"], summary["previous_generation"]) == (1, 0)
    # AND the parts are gone, the summary kept beside them
    left = s3.list_objects_v2(Bucket=settings.archive_bucket, Prefix="replay/")["Contents"]
    assert [o["Key"] for o in left] == [f"replay/{EXECUTION}/summary.json"]


def test_a_failed_bucket_abandons_the_generation_and_readers_stay(
    chalice_app: ModuleType, archive: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, settings = archive
    calls: list[dict[str, Any]] = []
    worker = recording(chalice_app, calls)

    def bucket_two_fails(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["step"] == "fold" and payload["bucket"] == 2:
            calls.append(payload)
            raise MemoryError("bucket 2 outgrew the function")
        return worker(payload)

    # GIVEN a definition that tolerates some failed children
    # WHEN one bucket's fold fails
    with pytest.raises(AssertionError, match="ReplayFailed"):
        run_states(
            definition(tolerated=50),
            {"projection": "accounts"},
            {"Execution": {"Name": EXECUTION}},
            bucket_two_fails,
        )
    # THEN the finish refused the partial model and the run was abandoned
    assert [call["step"] for call in calls][-2:] == ["finish", "abandon"]
    live = items(settings.table("read_models"))
    pointer = next(item for item in live if item["pk"] == POINTER_PK)
    assert pointer.get("accounts:active", 0) == 0
    assert pointer["accounts:previous"] == [1]
    assert "accounts:building" not in pointer
    # AND no part is left behind
    listed = s3.list_objects_v2(Bucket=settings.archive_bucket, Prefix="replay/")
    assert listed.get("Contents", []) == []
    assert part_key(EXECUTION, 0).startswith(f"replay/{EXECUTION}/")


def test_the_map_runs_the_declared_concurrency_and_tolerance() -> None:
    # GIVEN the definition rendered with Terraform's variables
    rendered = definition(max_concurrency=7, tolerated=5)
    fold = rendered["States"]["FoldBuckets"]
    # THEN the Map is a distributed one over the open step's buckets, with those settings
    assert fold["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert (fold["MaxConcurrency"], fold["ToleratedFailurePercentage"]) == (7, 5)
    assert fold["ItemsPath"] == "$.opened.buckets"
    assert fold["ItemSelector"]["count"] == COUNT


def test_moto_runs_no_state_of_a_replay_execution(session: boto3.session.Session) -> None:
    # GIVEN the rendered definition created as a state machine in moto
    sfn = session.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/replay-states"
    machine = sfn.create_state_machine(
        name="replay", definition=orjson.dumps(definition()).decode(), roleArn=role
    )["stateMachineArn"]
    # WHEN an execution starts
    execution = sfn.start_execution(stateMachineArn=machine, input='{"projection": "accounts"}')
    arn = execution["executionArn"]
    # THEN moto reports it running for ever without running a state: no Map run, no summary
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "RUNNING"
    assert sfn.list_map_runs(executionArn=arn).get("mapRuns", []) == []
    assert "events_read" not in orjson.loads(described.get("output") or "{}")
    # AND that is the gap the rehearsal reports for every state machine
    assert not_executed_reason("aws_sfn_state_machine") is not None
