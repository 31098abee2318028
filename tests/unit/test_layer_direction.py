"""chalicelib's layers depend inward only: entrypoints -> service -> adapters -> domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHALICELIB = Path(__file__).resolve().parents[2] / "chalice_app" / "chalicelib"
LAYERS = ("domain", "adapters", "service", "entrypoints")
# What each layer may import from chalicelib besides itself (settings and resources are the
# declarations every layer reads). The domain reaches no other layer and no AWS code.
MAY_IMPORT = {
    "domain": set(),
    "adapters": {"domain"},
    "service": {"domain", "adapters"},
    "entrypoints": {"domain", "adapters", "service"},
}
DOMAIN_FORBIDDEN_PACKAGES = {"boto3", "botocore", "chalice", "aws_lambda_powertools"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "chalicelib":
                names += [f"chalicelib.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "chalicelib" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def test_every_chalicelib_module_lives_in_a_layer() -> None:
    # GIVEN chalicelib's modules
    loose = sorted(
        p.name
        for p in CHALICELIB.glob("*.py")
        if p.name not in {"__init__.py", "settings.py", "resources.py"}
    )
    # THEN only the declarations (settings, resources) sit beside the layer folders
    assert loose == []


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_inward(layer: str) -> None:
    # GIVEN every module of the layer
    offenders = []
    for path in sorted((CHALICELIB / layer).rglob("*.py")):
        # WHEN reading its imports
        for module in _imports(path):
            target = _layer_of(module)
            # THEN each reaches its own layer or one further in
            if target not in (None, layer) and target not in MAY_IMPORT[layer]:
                offenders.append(f"{path.relative_to(CHALICELIB)} -> {module}")
    assert offenders == []


def test_the_domain_imports_no_aws_or_framework_code() -> None:
    # GIVEN the domain's modules
    offenders = [
        f"{path.relative_to(CHALICELIB)} -> {module}"
        for path in sorted((CHALICELIB / "domain").rglob("*.py"))
        for module in _imports(path)
        # WHEN one imports boto3, botocore, chalice or Powertools
        if module.split(".")[0] in DOMAIN_FORBIDDEN_PACKAGES
    ]
    # THEN none does: the domain is pure rules over events
    assert offenders == []
