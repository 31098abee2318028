"""A replay in AWS: the replay state machine's definition, and running it (replay.py --on aws).

infra/modules/replay renders ``definition.asl.json`` with Terraform's
``templatefile``: its only interpolations are plain ``${name}`` values
(the worker's ARN, the bucket count, the Map's concurrency and tolerated
failures). ``render_definition`` renders it the same way, so a test can run
the very definition that is deployed against the local worker, and the deploy
rehearsal can compare it with the one moto holds.

``run_execution`` starts an execution for one projection, reports the
Distributed Map run's item counts while it runs, and returns the summary the
finish step produced (the same JSON as a local replay's).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFINITION_TEMPLATE",
    "ExecutionFailed",
    "map_progress",
    "render_definition",
    "run_execution",
]

DEFINITION_TEMPLATE = (
    Path(__file__).resolve().parents[1] / "infra" / "modules" / "replay" / "definition.asl.json"
)
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ITEM_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total")


class ExecutionFailed(RuntimeError):
    """The replay execution ended other than SUCCEEDED."""


def render_definition(values: Mapping[str, Any], template: Path = DEFINITION_TEMPLATE) -> Any:
    """The ASL document as Terraform's templatefile renders it with ``values``."""
    text = template.read_text()
    missing = sorted(set(_INTERPOLATION.findall(text)) - set(values))
    if missing:
        raise KeyError(f"the definition needs values for {missing}")
    return json.loads(_INTERPOLATION.sub(lambda match: str(values[match.group(1)]), text))


def map_progress(sfn: Any, execution_arn: str) -> dict[str, int] | None:
    """The item counts of the execution's Map run, or None before it starts."""
    runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    if not runs:
        return None
    counts = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {})
    return {name: int(counts.get(name, 0)) for name in ITEM_COUNTS}


def run_execution(
    sfn: Any,
    state_machine_arn: str,
    projection: str,
    report: Callable[[str, dict[str, int] | None], None],
    *,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Start a replay of ``projection`` and wait for it; the finish step's summary.

    ``report(status, item_counts)`` is called on every poll; ``sleep`` waits
    ``poll_seconds`` between polls (``time.sleep``, read when it waits, so a
    test's patch of it holds). ExecutionFailed
    if the execution fails, times out or is aborted (the state machine has
    abandoned the new generation by then: readers stay where they were).
    """
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, input=json.dumps({"projection": projection})
    )
    arn = started["executionArn"]
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        status = execution["status"]
        report(status, map_progress(sfn, arn))
        if status == "SUCCEEDED":
            summary: dict[str, Any] = json.loads(execution.get("output") or "{}")
            return summary
        if status != "RUNNING":
            cause = execution.get("cause") or execution.get("error") or "no cause given"
            raise ExecutionFailed(f"replay execution {arn} ended {status}: {cause}")
        (sleep or time.sleep)(poll_seconds)
