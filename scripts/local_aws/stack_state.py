"""What a running local stack publishes for the local tools, keyed by its AWS port.

``local_stack.py up`` writes one JSON file per stack into its state folder:
the environment its processes run with (the AWS endpoint, the DynamoDB Local
endpoints, credentials, region and every resource setting). A local tool given
``--aws-port`` loads that file and so finds the other endpoints by itself.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "API_URL_VAR",
    "DEFAULT_STATE_DIR",
    "START_HINT",
    "StackNotRunning",
    "aws_port_of_api",
    "load",
    "publish",
    "state_file",
    "use",
    "withdraw",
]

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / ".local-stack"
# Published next to the environment: where the stack's API answers.
API_URL_VAR = "LOCAL_STACK_API_URL"
START_HINT = "python scripts/local_stack.py up"
# How long a published endpoint may take to accept a connection before the stack
# that published it counts as gone (it is on loopback: a live one accepts at once).
_PROBE_SECONDS = 1.0


class StackNotRunning(RuntimeError):
    """No local stack has published its settings for that AWS port."""


def state_file(aws_port: int, state_dir: Path | None = None) -> Path:
    """Where the stack serving AWS on ``aws_port`` publishes its environment."""
    return (state_dir or DEFAULT_STATE_DIR) / f"stack-{aws_port}.json"


def publish(aws_port: int, environment: Mapping[str, str], state_dir: Path | None = None) -> Path:
    """Write the stack's environment atomically (readers never see half a file)."""
    path = state_file(aws_port, state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(dict(environment), indent=2, sort_keys=True))
    partial.replace(path)
    return path


def published_ports(state_dir: Path | None = None) -> list[int]:
    """The AWS ports of the stacks that published an environment in ``state_dir``."""
    ports = []
    for path in (state_dir or DEFAULT_STATE_DIR).glob("stack-*.json"):
        port = path.stem.removeprefix("stack-")
        if port.isdigit():
            ports.append(int(port))
    return sorted(ports)


def _not_published(aws_port: int, path: Path) -> StackNotRunning:
    others = [p for p in published_ports(path.parent) if p != aws_port]
    if others:
        ports = " or ".join(str(p) for p in others)
        return StackNotRunning(
            f"no local stack publishes AWS port {aws_port}, but one does on {ports}: "
            f"pass --aws-port {others[0]}"
        )
    return StackNotRunning(
        f"no local stack publishes AWS port {aws_port} (expected {path}); "
        f"start one with: {START_HINT} --aws-port {aws_port}, or pass the --aws-port of "
        "the one running"
    )


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        return True  # not an endpoint this module can probe: let the tool find out
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=_PROBE_SECONDS):
            return True
    except OSError:
        return False


def load(aws_port: int, state_dir: Path | None = None) -> dict[str, str]:
    """The environment published by the stack on ``aws_port``; StackNotRunning if none.

    A stack killed before it could withdraw leaves its file behind: when an
    endpoint it published (moto server's, DynamoDB Local's) does not answer,
    the file is removed and the stack counts as not running.
    """
    path = state_file(aws_port, state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise _not_published(aws_port, path) from None
    environment = {str(name): str(value) for name, value in data.items()}
    endpoints = [environment.get("AWS_ENDPOINT_URL", "")]
    if endpoints[0]:
        endpoints.append(environment.get("AWS_ENDPOINT_URL_DYNAMODB", ""))
    if not all(_answers(url) for url in endpoints if url):
        path.unlink(missing_ok=True)
        raise StackNotRunning(
            f"the local stack at AWS port {aws_port} is not answering (its stale {path.name} "
            f"is removed); start it again with: {START_HINT} --aws-port {aws_port}"
        )
    return environment


def _same_endpoint(a: str, b: str) -> bool:
    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return (
            parts.scheme,
            "127.0.0.1" if host == "localhost" else host,
            parts.port,
            parts.path.rstrip("/"),
        )

    try:
        return key(a) == key(b)
    except ValueError:  # a port out of range
        return False


def aws_port_of_api(api_url: str, state_dir: Path | None = None) -> int | None:
    """The AWS port of the local stack that published ``api_url`` as its API, if one did.

    So a tool given only a local stack's API URL (``seed_users.py --api-url``)
    finds the stack's user pool as if given its ``--aws-port``.
    """
    for aws_port in published_ports(state_dir):
        # Not load(): whether the stack still answers is the tool's to find out, as
        # with an --aws-port it was given.
        try:
            published = json.loads(state_file(aws_port, state_dir).read_text())
        except (OSError, ValueError):
            continue  # withdrawn meanwhile, or half written by hand
        if isinstance(published, dict) and _same_endpoint(
            str(published.get(API_URL_VAR, "")), api_url
        ):
            return aws_port
    return None


def use(aws_port: int, state_dir: Path | None = None) -> dict[str, str]:
    """Point this process (boto3, the settings) at the stack on ``aws_port``; its environment."""
    environment = load(aws_port, state_dir)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(environment)
    return environment


def withdraw(aws_port: int, state_dir: Path | None = None) -> None:
    """Remove the stack's published environment (on shutdown)."""
    state_file(aws_port, state_dir).unlink(missing_ok=True)
