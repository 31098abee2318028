"""The archive's bucket query, as Terraform renders it, is projections.archive_buckets.bucket_of."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from chalicelib import resources
from local_aws.terraform_cli import terraform
from projections.archive_buckets import bucket_label, bucket_of
from tests.infra import hcl

pytestmark = [
    pytest.mark.slow,  # terraform init and apply per case
    pytest.mark.skipif(
        shutil.which("terraform") is None or shutil.which("jq") is None,
        reason="needs terraform and jq on PATH",
    ),
]


def rendered_query(work: Path, count: int) -> str:
    """modules/archive's bucket query, rendered by terraform for ``count`` buckets."""
    text = (hcl.INFRA / "modules" / "archive" / "main.tf").read_text()
    block = re.search(r"^locals \{\n  bucket_width.*?^\}\n", text, re.S | re.M)
    assert block, "modules/archive has no locals block with bucket_width and bucket_query"
    (work / "main.tf").write_text(
        'variable "bucket_count" {\n  type = number\n}\n'
        + block.group(0)
        + 'output "query" {\n  value = local.bucket_query\n}\n'
    )
    terraform(["init", "-input=false", "-no-color"], work, timeout=120)
    terraform(
        ["apply", "-auto-approve", "-input=false", "-no-color", f"-var=bucket_count={count}"],
        work,
        timeout=120,
    )
    return terraform(["output", "-raw", "query"], work).strip()


@pytest.mark.parametrize("count", [resources.ARCHIVE_DELIVERY.bucket_count, 7, 150])
def test_firehose_query_and_python_agree_on_every_bucket(tmp_path: Path, count: int) -> None:
    # GIVEN the metadata-extraction query Firehose runs, rendered for `count` buckets
    query = rendered_query(tmp_path, count)
    # AND subjects: uuids, plain ids, non-ASCII, empty and missing
    subjects: list[str | None] = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(300)]
    subjects += ["acc-1", "purchases-u2", "ünïcødé-€-𝄞", "", None]
    lines = "".join(
        json.dumps({"specversion": "1.0", "subject": s} if s is not None else {"id": "x"}) + "\n"
        for s in subjects
    )
    # WHEN jq 1.6 (Firehose's JsonParsingEngine) runs it on each event
    out = subprocess.run(
        ["jq", "-c", query], input=lines, capture_output=True, text=True, check=True
    ).stdout.split()
    # THEN each bucket is the zero-padded bucket_of of the subject
    assert [json.loads(line)["bucket"] for line in out] == [
        bucket_label(bucket_of(s or "", count), count) for s in subjects
    ]


def test_archive_prefix_and_bucket_count_are_declared_once() -> None:
    # GIVEN the root module, its archive call and resources.ARCHIVE_DELIVERY
    root = hcl.module()
    call = root.modules["archive"]
    firehose = hcl.module("modules/archive").resource(
        "aws_kinesis_firehose_delivery_stream", "archive"
    )
    s3 = hcl.blocks(firehose, "extended_s3_configuration")[0]
    # THEN the count's default is the resources' one, and the prefix is rendered from it
    assert root.variable_default("archive_bucket_count") == resources.ARCHIVE_DELIVERY.bucket_count
    assert hcl.expression(hcl.attr(call, "bucket_count")) == "var.archive_bucket_count"
    assert "var.archive_bucket_count" in hcl.expression(hcl.attr(call, "prefix"))
    assert "!{partitionKeyFromQuery:bucket}" in resources.ARCHIVE_DELIVERY.prefix
    # AND the delivery stream partitions dynamically with the query, no Lambda
    assert hcl.attr(hcl.blocks(s3, "dynamic_partitioning_configuration")[0], "enabled") is True
    (processing,) = hcl.blocks(s3, "processing_configuration")
    (processor,) = hcl.blocks(processing, "processors")
    assert hcl.attr(processor, "type") == "MetadataExtraction"
    values = {
        hcl.attr(p, "parameter_name"): hcl.attr(p, "parameter_value")
        for p in hcl.blocks(processor, "parameters")
    }
    assert values["JsonParsingEngine"] == "JQ-1.6"
    assert hcl.expression(values["MetadataExtractionQuery"]) == "local.bucket_query"
