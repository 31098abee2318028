"""replay.py --on aws: starts the replay state machine, shows the Map run, prints the summary.

moto runs no execution (moto_patches.NOT_EXECUTED), so Step Functions is an
in-memory fake here that plays an execution's life: running before the Map,
the Map run's item counts growing, then the finish step's output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
import replay as replay_script
from replay_aws import ExecutionFailed, run_execution

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:evp-replay"
SUMMARY = {"projection": "accounts", "workers": 4, "events_read": 120, "generation": 1}


class FakeStepFunctions:
    """An execution that runs through ``polls`` (status, Map item counts or None), then ends."""

    def __init__(self, polls: list[tuple[str, dict[str, int] | None]], output: Any) -> None:
        self.polls: Iterator[tuple[str, dict[str, int] | None]] = iter(polls)
        self.now: tuple[str, dict[str, int] | None] = ("RUNNING", None)
        self.output = output
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"executionArn": f"{MACHINE}:run-1".replace("stateMachine", "execution")}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.now = next(self.polls)
        described: dict[str, Any] = {"executionArn": executionArn, "status": self.now[0]}
        if self.now[0] == "SUCCEEDED":
            described["output"] = json.dumps(self.output)
        elif self.now[0] == "FAILED":
            described.update(error="ReplayFailed", cause="a bucket's fold failed")
        return described

    def list_map_runs(self, executionArn: str) -> dict[str, Any]:
        runs = [] if self.now[1] is None else [{"mapRunArn": f"{executionArn}/map"}]
        return {"mapRuns": runs}

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        return {"itemCounts": self.now[1]}


def counts(succeeded: int, running: int, failed: int = 0) -> dict[str, int]:
    pending = 4 - succeeded - running - failed
    return {"pending": pending, "running": running, "succeeded": succeeded, "failed": failed,
            "timedOut": 0, "aborted": 0, "total": 4}  # fmt: skip


LIFE = [
    ("RUNNING", None),
    ("RUNNING", counts(0, 2)),
    ("RUNNING", counts(3, 1)),
    ("SUCCEEDED", counts(4, 0)),
]


def test_run_execution_reports_each_poll_and_returns_the_finish_output() -> None:
    # GIVEN an execution that opens, folds four buckets and finishes
    sfn = FakeStepFunctions(LIFE, SUMMARY)
    seen: list[tuple[str, dict[str, int] | None]] = []
    # WHEN it is run for a projection
    summary = run_execution(
        sfn, MACHINE, "accounts", lambda s, c: seen.append((s, c)), sleep=lambda _: None
    )
    # THEN it started the machine with the projection, reported every poll, returned the output
    assert sfn.started == [{"stateMachineArn": MACHINE, "input": '{"projection": "accounts"}'}]
    assert seen == LIFE
    assert summary == SUMMARY


def test_a_failed_execution_is_an_error_naming_its_cause() -> None:
    # GIVEN an execution whose Map fails
    sfn = FakeStepFunctions([("RUNNING", counts(1, 2)), ("FAILED", counts(1, 0, 3))], None)
    # WHEN it is run
    # THEN the failure names the execution's cause
    with pytest.raises(ExecutionFailed, match="FAILED: a bucket's fold failed"):
        run_execution(sfn, MACHINE, "accounts", lambda s, c: None, sleep=lambda _: None)


@pytest.fixture
def fake_sfn(session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch) -> FakeStepFunctions:
    """GIVEN Step Functions (a fake) behind every boto3 session the script opens."""
    monkeypatch.setenv("NAME_PREFIX", "t")
    sfn = FakeStepFunctions(LIFE, SUMMARY)
    client: Any = boto3.session.Session.client

    def faked(self: boto3.session.Session, service: str, *args: Any, **kwargs: Any) -> Any:
        return sfn if service == "stepfunctions" else client(self, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", faked)
    monkeypatch.setattr("replay_aws.time.sleep", lambda _: None)
    return sfn


def test_replay_on_aws_prints_the_map_progress_then_the_summary(
    fake_sfn: FakeStepFunctions, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the script replays accounts on AWS
    code = replay_script.main(
        ["--on", "aws", "--state-machine", MACHINE, "--projection", "accounts"]
    )
    out, err = capsys.readouterr()
    # THEN it printed the Map run's counts as they grew, then the summary as its last line
    assert code == 0
    assert "buckets 3/4 folded, 1 running, 0 pending, 0 failed" in err
    assert orjson.loads(out.strip().splitlines()[-1]) == SUMMARY


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--workers", "2"], "--workers"),
        (["--until", "2026-01-01T00:00:00Z"], "--until"),
        (["--table", "other"], "--table"),
        (["--source", "ledger"], "--source"),
    ],
)
def test_replay_on_aws_refuses_local_only_options(
    capsys: pytest.CaptureFixture[str], extra: list[str], named: str
) -> None:
    # WHEN --on aws is given an option only a local replay has
    with pytest.raises(SystemExit) as exit_info:
        replay_script.main(
            ["--on", "aws", "--state-machine", MACHINE, "--projection", "accounts", *extra]
        )
    # THEN it is a usage error naming it, before anything started
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_replay_on_aws_needs_the_state_machine(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN --on aws is given no state machine
    with pytest.raises(SystemExit):
        replay_script.main(["--on", "aws", "--projection", "accounts"])
    # THEN the error says where its ARN comes from
    assert "replay_state_machine_arn" in capsys.readouterr().err
