"""DynamoDB Local, AWS's own emulator, as the local stack runs it.

``make install`` unpacks the pinned distribution into ``.tools/dynamodb-local``;
this module says how to start it (in memory, one database for every
credential and region, no telemetry so nothing leaves the machine) and what
is missing when it cannot be started.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = [
    "DYNAMODB_ENDPOINT_VARS",
    "INSTALL_DIR",
    "command",
    "endpoint_environment",
    "missing_requirement",
]

INSTALL_DIR = Path(__file__).resolve().parents[2] / ".tools" / "dynamodb-local"
# boto3's service-specific endpoint variables (service ids dynamodb and dynamodbstreams).
DYNAMODB_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS")


def missing_requirement(install_dir: Path = INSTALL_DIR) -> str | None:
    """One line saying what to install before DynamoDB Local can run; None if nothing."""
    if shutil.which("java") is None:
        return (
            "DynamoDB Local needs Java 17 or newer and `java` is not on PATH: "
            "install a Java runtime (e.g. `apt-get install openjdk-17-jre-headless`)"
        )
    if not (install_dir / "DynamoDBLocal.jar").is_file():
        return f"DynamoDB Local is not installed in {install_dir}: run `make install`"
    return None


def command(port: int, install_dir: Path = INSTALL_DIR) -> list[str]:
    """The argv that serves DynamoDB and DynamoDB Streams on ``port``, in memory."""
    return [
        "java",
        # The client compiler only, and the serial collector: the JVM listens in about half
        # the time, and on a small shared machine it also serves more requests per second
        # than with C2 compiling in the background.
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        f"-Djava.library.path={install_dir / 'DynamoDBLocal_lib'}",
        "-jar",
        str(install_dir / "DynamoDBLocal.jar"),
        "-inMemory",
        # One database whatever the caller's credentials and region.
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]


def endpoint_environment(url: str) -> dict[str, str]:
    """The variables that route boto3's DynamoDB and DynamoDB Streams clients to ``url``."""
    return dict.fromkeys(DYNAMODB_ENDPOINT_VARS, url)
