"""scripts/ops.py's command line: where it points, and refusing to guess."""

from __future__ import annotations

import ops
import pytest


def test_aws_port_is_accepted_before_or_after_the_subcommand() -> None:
    parser = ops._parser()
    assert parser.parse_args(["--aws-port", "5000", "dlq"]).aws_port == 5000
    assert parser.parse_args(["trace", "e-1", "--aws-port", "5001", "--json"]).aws_port == 5001
    assert parser.parse_args(["redrive", "q"]).aws_port is None


def test_without_a_stage_or_a_local_stack_it_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no stage settings in the environment
    monkeypatch.delenv("NAME_PREFIX", raising=False)
    # WHEN asked for the DLQs of AWS, THEN it stops rather than guess resource names
    assert ops.main(["dlq"]) == 2
    assert "NAME_PREFIX" in capsys.readouterr().err


def test_an_aws_port_no_stack_publishes_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ops.main(["--aws-port", "1", "dlq"]) == 2
    assert "no local stack publishes AWS port 1" in capsys.readouterr().err
