"""`make install` shows no setuptools notice block: its editable install runs quiet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _make_install_commands() -> list[str]:
    """What `make install` runs to build the virtualenv (dry run, forced)."""
    done = subprocess.run(
        ["make", "-n", "-B", ".venv/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.splitlines()


def test_the_editable_install_prints_no_setuptools_notice(tmp_path: Path) -> None:
    # GIVEN the editable-install command of `make install`, and a fresh virtualenv with
    # no pip: the pip that `make install` upgraded (this run's) installs into it
    # (``--python``), so no pip is fetched and installed for the test
    (command,) = [
        line for line in _make_install_commands() if "pip install" in line and "-e" in line
    ]
    prefix = command.split(".venv/bin/pip", 1)[0].strip()
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    pip = f"{sys.executable} -m pip --python {venv / 'bin' / 'python'}"
    # WHEN the project is installed editable as `make install` does (its own dependencies
    # left out: they are not what prints the notice)
    done = subprocess.run(
        f"{prefix} {pip} install --quiet --no-deps -e {ROOT}",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )
    # THEN it succeeds without setuptools' "Editable installation." block
    assert done.returncode == 0, done.stderr
    assert "Editable installation" not in done.stdout + done.stderr
