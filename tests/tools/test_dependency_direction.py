"""Dependencies run one way: projections (pure) <- chalicelib <- app.py, scripts."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECTIONS = ROOT / "projections"


def test_projections_import_no_chalicelib_pydantic_or_aws_code() -> None:
    # GIVEN a fresh interpreter that can import both projections and chalicelib
    code = (
        "import json, sys, pkgutil, importlib, projections\n"
        "for m in pkgutil.iter_modules(projections.__path__):\n"
        "    importlib.import_module('projections.' + m.name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    # WHEN importing every projections module
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'chalice_app'}"},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout)
    # THEN neither chalicelib nor pydantic, boto3 or botocore was loaded
    forbidden = ("chalicelib", "pydantic", "boto3", "botocore")
    assert [m for m in loaded if m.split(".")[0] in forbidden] == []


def test_projections_have_no_function_level_imports() -> None:
    # GIVEN every projections module
    offenders = []
    for path in PROJECTIONS.glob("*.py"):
        tree = ast.parse(path.read_text())
        # WHEN looking for imports inside functions
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                offenders += [
                    f"{path.name}:{inner.lineno}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    # THEN there are none (no import placed to dodge a cycle)
    assert offenders == []
