"""The deployment scripts' --help: what they do, every option explained with its default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.entrypoints.gateway_responses import GATEWAY_RESPONSES

ROOT = Path(__file__).resolve().parents[2]


def _help(script: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    return done.stdout


def _option_help(text: str) -> dict[str, str]:
    """Each option (but -h) with its help text, continuation lines joined."""
    options: dict[str, str] = {}
    current = None
    section = text.split("options:", 1)[1].split("\n\n", 1)[0]
    for line in section.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("--"):
            current, _, rest = stripped.partition("  ")
            options[current.split()[0]] = rest.strip()
        elif current:
            options[current.split()[0]] += " " + stripped
    options.pop("-h,", None)
    return options


@pytest.mark.parametrize(
    ("script", "options"),
    [
        ("tf_outputs_to_chalice.py", {"--tf-dir", "--stage", "--config"}),
        ("post_deploy.py", {"--stage", "--config", "--region"}),
    ],
)
def test_help_describes_the_script_and_every_option_with_its_default(
    script: str, options: set[str]
) -> None:
    # WHEN a new user asks for help
    text = _help(script)
    # THEN it says what the script does, beyond one line
    description = text.split("\n\n", 2)[1:]
    assert len(" ".join(description).split("options:")[0]) > 300
    # AND every option says what it is and its default
    explained = _option_help(text)
    assert set(explained) == options
    for option, help_text in explained.items():
        assert "default:" in help_text, option


def test_post_deploy_help_names_every_gateway_response_it_installs() -> None:
    text = _help("post_deploy.py")
    for name in GATEWAY_RESPONSES:
        assert name in text
