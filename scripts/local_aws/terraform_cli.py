"""Terraform on these machines: the provider mirror, and what a plan and the graph say."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PLUGIN_DIR_ENV",
    "PlannedResource",
    "TerraformError",
    "config_address",
    "dependencies",
    "dependents",
    "graph_edges",
    "missing_tooling",
    "planned_resources",
    "provider_mirror",
    "show_plan",
    "terraform",
]

# A filesystem mirror of the AWS provider: `terraform init -plugin-dir=<it>` works offline.
PLUGIN_DIR_ENV = "TF_PLUGIN_DIR"
DEFAULT_PLUGIN_DIR = "/opt/tf-plugins"


class TerraformError(Exception):
    """A terraform command failed; the message ends with its last lines of output."""


def provider_mirror() -> Path:
    """Where the local AWS provider mirror is expected (``TF_PLUGIN_DIR``, else /opt/tf-plugins)."""
    return Path(os.environ.get(PLUGIN_DIR_ENV, DEFAULT_PLUGIN_DIR))


def missing_tooling() -> str | None:
    """What is missing to run terraform offline here (a reason), or None."""
    missing = []
    if shutil.which("terraform") is None:
        missing.append("terraform (not on PATH)")
    if not provider_mirror().is_dir():
        missing.append(f"the AWS provider mirror ({PLUGIN_DIR_ENV}={provider_mirror()})")
    return f"missing {' and '.join(missing)}" if missing else None


# Terraform and the AWS provider (Go, which passes its environment on) spend about a
# fifth of their CPU collecting garbage at Go's default GOGC=100: the provider's schema
# is large and every command loads it. Collecting at 4x the live heap instead cuts that
# for a few hundred MB more memory per process. The caller's environment wins.
GO_RUNTIME_ENV = {"GOGC": "400"}
# No call to checkpoint-api.hashicorp.com for upgrade notices: these machines are offline.
QUIET_ENV = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}


def terraform(
    args: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None, timeout: float = 900
) -> str:
    """Run ``terraform args`` in ``cwd``; its stdout, or TerraformError."""
    result = subprocess.run(
        ["terraform", *args],
        cwd=cwd,
        env={**GO_RUNTIME_ENV, **os.environ, **(env or {}), **QUIET_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise TerraformError(f"terraform {args[0]} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


@dataclass(frozen=True)
class PlannedResource:
    """A managed resource instance in a plan."""

    address: str
    type: str
    actions: tuple[str, ...]
    after: dict[str, Any]

    @property
    def config(self) -> str:
        return config_address(self.address)


def config_address(address: str) -> str:
    """The configuration address of an instance (``module.a["k"].x.y[0]`` -> ``module.a.x.y``)."""
    return re.sub(r"\[[^\]]*\]", "", address)


def planned_resources(plan_json: Mapping[str, Any]) -> list[PlannedResource]:
    """The managed resources of ``terraform show -json <plan>``."""
    return [
        PlannedResource(
            address=change["address"],
            type=change["type"],
            actions=tuple(change["change"]["actions"]),
            after=dict(change["change"].get("after") or {}),
        )
        for change in plan_json.get("resource_changes", [])
        if change["mode"] == "managed"
    ]


def show_plan(plan_file: Path, cwd: Path) -> list[PlannedResource]:
    """The resources of a saved plan."""
    return planned_resources(json.loads(terraform(["show", "-json", str(plan_file)], cwd)))


def graph_edges(dot: str) -> list[tuple[str, str]]:
    """(dependent, dependency) pairs of ``terraform graph`` output."""
    return [
        (match[0], match[1])
        for line in dot.splitlines()
        if "->" in line and len(match := re.findall(r'"([^"]+)"', line)) == 2
    ]


def dependents(roots: Iterable[str], edges: Iterable[tuple[str, str]]) -> set[str]:
    """``roots`` and everything that depends on them, directly or not."""
    closure = set(roots)
    pairs = list(edges)
    grown = True
    while grown:
        grown = False
        for dependent, dependency in pairs:
            if dependency in closure and dependent not in closure:
                closure.add(dependent)
                grown = True
    return closure


def dependencies(roots: Iterable[str], edges: Iterable[tuple[str, str]]) -> set[str]:
    """``roots`` and everything they depend on, directly or not."""
    return dependents(roots, [(dependency, dependent) for dependent, dependency in edges])
