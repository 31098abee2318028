"""Read infra/ with python-hcl2, whichever of its two output dialects is installed.

checkov depends on bc-python-hcl2, which installs the same ``hcl2`` package as
python-hcl2; depending on install order ``import hcl2`` yields either dialect:
bc-python-hcl2 / python-hcl2 < 5 wrap attribute values in a one-element list
and leave strings bare; python-hcl2 >= 5 keeps strings quoted and marks blocks
with ``__is_block__``. The accessors below hide the difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_WRAPPED = isinstance(hcl2.loads('a = "b"\n')["a"], list)


def parse_file(path: Path) -> dict[str, Any]:
    """Raw python-hcl2 parse of one file."""
    with path.open() as handle:
        return hcl2.load(handle)


def clean(value: Any) -> Any:
    """Drop parser markers and quotes from a parsed value (recursively)."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def attr(body: dict[str, Any], name: str, default: Any = KeyError) -> Any:
    """An attribute of a block body, cleaned."""
    if name not in body:
        if default is KeyError:
            raise KeyError(name)
        return default
    value = body[name]
    if _WRAPPED and isinstance(value, list) and len(value) == 1:
        value = value[0]
    return clean(value)


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Nested blocks called ``name`` of a block body."""
    found = body.get(name, [])
    return found if isinstance(found, list) else [found]


class Module:
    """Every top-level block of one Terraform module directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.modules: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        for path in sorted(directory.glob("*.tf")):
            parsed = parse_file(path)
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for entry in parsed.get(kind, []):
                    for rtype, named in entry.items():
                        for rname, body in named.items():
                            target.setdefault(clean(rtype), {})[clean(rname)] = body
            for kind, flat in (
                ("variable", self.variables),
                ("output", self.outputs),
                ("module", self.modules),
            ):
                for entry in parsed.get(kind, []):
                    for name, body in entry.items():
                        flat[clean(name)] = body
            for entry in parsed.get("locals", []):
                for name in entry:
                    if not name.startswith("__"):
                        self.locals[name] = attr(entry, name)

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        """Body of ``resource "<rtype>" "<name>"``."""
        return self.resources[rtype][name]

    def variable_default(self, name: str) -> Any:
        """Default value of a variable."""
        return attr(self.variables[name], "default")


def subscribers() -> dict[str, Any]:
    """``var.subscribers`` as Terraform reads it from infra/subscribers.auto.tfvars.json."""
    document = json.loads((INFRA / "subscribers.auto.tfvars.json").read_text())
    return dict(document["subscribers"])


def module(relative: str = "") -> Module:
    """Parse infra/<relative> (the root module by default)."""
    return Module(INFRA / relative if relative else INFRA)


def expression(value: Any) -> str:
    """An HCL expression as text, without ${...} interpolation wrapping."""
    text = str(value)
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        return text[2:-1]
    return text
