"""A copy of infra/ initialised offline (the local provider mirror), for validate and plan."""

from __future__ import annotations

import shutil
from pathlib import Path

from local_aws.terraform_cli import provider_mirror, terraform
from tests.infra import hcl

__all__ = ["initialised_copy"]

LOCAL_ENDPOINT = "http://127.0.0.1:5000"


def initialised_copy(work: Path, endpoint: str | None = None) -> Path:
    """A copy of infra/ in ``work``, ``terraform init``-ed from the mirror.

    With ``endpoint``, the local provider override points every AWS service at it.
    """
    shutil.copytree(hcl.INFRA, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    if endpoint:
        override = (hcl.INFRA / "local" / "provider_override.tf.example").read_text()
        (work / "provider_override.tf").write_text(override.replace(LOCAL_ENDPOINT, endpoint))
    terraform(
        ["init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={provider_mirror()}"],
        work,
        timeout=180,
    )
    return work
