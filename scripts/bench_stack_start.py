"""Start time of the local stack, optionally against another checkout, in one run.

    python scripts/bench_stack_start.py [--runs 5] [--baseline DIR]

Starts ``scripts/local_stack.py up`` of this checkout (and of ``--baseline``,
e.g. ``git archive main | tar -x -C /tmp/main``, run with this checkout's
virtualenv), alternating, each time on free ports, and measures the time
until ``API ready``. The last line is JSON:
``{"runs": n, "this_median_s": .., "baseline_median_s": .., "ratio": ..}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_aws.stack_process import free_port

ROOT = Path(__file__).resolve().parent.parent


def start_time(root: Path, state_dir: Path) -> float:
    """Seconds from spawning ``root``'s local stack until it prints ``API ready``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if root != ROOT:
        # The other checkout's own packages win over this virtualenv's editable install.
        env["PYTHONPATH"] = os.pathsep.join(
            str(root / part) for part in ("scripts", "chalice_app", ".")
        )
    argv = [
        sys.executable,
        str(root / "scripts" / "local_stack.py"),
        "up",
        "--api-port",
        str(free_port()),
        "--aws-port",
        str(free_port()),
        "--state-dir",
        str(state_dir),
    ]
    if root == ROOT:
        argv += ["--dynamodb-port", "0"]
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
        # Its own process group: a stack that hangs on SIGTERM is killed with its children.
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if b"API ready" in line:
                return time.monotonic() - started
        raise RuntimeError(f"the local stack of {root} exited before it was ready")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args(argv)
    this: list[float] = []
    baseline: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        for run in range(args.runs):
            if args.baseline is not None:
                baseline.append(start_time(args.baseline.resolve(), Path(tmp) / f"b{run}"))
            this.append(start_time(ROOT, Path(tmp) / f"t{run}"))
            line = f"run {run + 1}: this {this[-1]:.2f} s"
            if baseline:
                line += f", baseline {baseline[-1]:.2f} s"
            print(line, file=sys.stderr, flush=True)
    summary: dict[str, object] = {
        "runs": args.runs,
        "this_s": [round(t, 2) for t in this],
        "this_median_s": round(statistics.median(this), 2),
    }
    if baseline:
        summary["baseline_s"] = [round(t, 2) for t in baseline]
        summary["baseline_median_s"] = round(statistics.median(baseline), 2)
        summary["ratio"] = round(statistics.median(this) / statistics.median(baseline), 2)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
