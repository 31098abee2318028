"""scripts/deploy_rehearsal.py: the documented deployment, for real, against moto server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local_aws.terraform_cli import missing_tooling

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(missing_tooling() is not None, reason=str(missing_tooling()))
def test_the_documented_deployment_succeeds_against_moto() -> None:
    # GIVEN terraform, the provider mirror and a clean checkout
    before = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    # WHEN rehearsing the deployment
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy_rehearsal.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(summary, indent=2))
    # THEN every check held and the summary says what was deployed and what was not emulated
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary["ok"] is True and summary["problems"] == []
    assert summary["resources"] > 0 and summary["functions"] > 0 and summary["mappings"] > 0
    assert summary["routes"] > 0
    assert all(gap["reason"] for gap in summary["not_emulated"])
    # AND the replay state machine was applied and wired to the deployed worker, and the
    # rehearsal says that moto does not run its executions
    assert summary["replay_state_machine"] is True
    gaps = {gap["address"]: gap["reason"] for gap in summary["not_emulated"]}
    assert "Distributed Map" in gaps["module.replay.aws_sfn_state_machine.replay"]
    assert summary["destroyed"] is True
    # AND the repository was left as it was (the hand-off wrote into a copy)
    after = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert after == before
