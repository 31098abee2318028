"""Cost of crypto-shredding on the registration path, measured in one run.

Registers users through the real UserRegistry against in-process moto,
alternating between the production path (KMS data key per user + AES-GCM
sealing of the personal fields) and a baseline with both steps replaced by
no-ops, and prints latency percentiles; the last line is JSON:
{"users":..,"plain_p50_ms":..,"sealed_p50_ms":..,"plain_p95_ms":..,
 "sealed_p95_ms":..,"overhead_p50_ms":..,"ratio_p50":..}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from moto import mock_aws

from chalicelib.adapters.personal_data import DataKeyStore, PersonalDataVault
from local_aws.dynamodb_local import DYNAMODB_ENDPOINT_VARS


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class _PlainVault(PersonalDataVault):
    """Baseline: personal fields stored as given."""

    @staticmethod
    def seal_with(key: bytes, user_id: str, data: Any, fields: Any) -> dict[str, Any]:
        return dict(data)


class _NoKeys(DataKeyStore):
    """Baseline: no KMS call; an empty key item keeps the transaction's shape."""

    def generate(self, user_id: str) -> tuple[bytes, dict[str, Any]]:
        return b"\0" * 32, {
            "Put": {
                "TableName": self._table.name,
                "Item": {"user_id": user_id, "encrypted_key": b""},
                "ConditionExpression": "attribute_not_exists(user_id)",
            }
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args(argv)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-1"
    )
    for endpoint in ("AWS_ENDPOINT_URL", *DYNAMODB_ENDPOINT_VARS):
        os.environ.pop(endpoint, None)
    with mock_aws():
        from chalicelib.adapters import aws
        from chalicelib.adapters.dynamo_unit_of_work import DynamoItems
        from chalicelib.entrypoints.roots import stores
        from chalicelib.entrypoints.roots.api_commands import runner, users
        from chalicelib.service.users import RegisterUser, UserRegistry
        from local_aws.provision import provision

        os.environ.update(provision("bench"))
        aws.reset()
        timings: dict[str, list[float]] = {"plain": [], "sealed": []}
        no_keys = _NoKeys(aws.table("personal_data_keys"), None, "")
        registries = {
            "sealed": users(),  # the production wiring
            "plain": UserRegistry(
                DynamoItems(aws.table("users")),
                stores.ledger(),
                runner(),
                no_keys,
                _PlainVault(no_keys),
            ),
        }
        for i in range(2 * args.users + 20):
            mode = "sealed" if i % 2 else "plain"
            registry = registries[mode]
            request = RegisterUser(
                name=f"Name{i}",
                lastname="Bench",
                address=f"{i} Bench Road",
                loyalty=i % 3 == 0,
            )
            started = time.perf_counter()
            registry.register(f"bench-user-{i}", request, f"b{i}@example.com", scope="POST /users")
            elapsed = (time.perf_counter() - started) * 1000
            if i >= 20:  # warm-up
                timings[mode].append(elapsed)
    plain, sealed = timings["plain"], timings["sealed"]
    summary = {
        "users": len(sealed),
        "plain_p50_ms": round(statistics.median(plain), 3),
        "sealed_p50_ms": round(statistics.median(sealed), 3),
        "plain_p95_ms": round(_percentile(plain, 95), 3),
        "sealed_p95_ms": round(_percentile(sealed, 95), 3),
        "overhead_p50_ms": round(statistics.median(sealed) - statistics.median(plain), 3),
        "ratio_p50": round(statistics.median(sealed) / statistics.median(plain), 3),
    }
    print(
        f"registration without encryption: p50 {summary['plain_p50_ms']} ms, "
        f"p95 {summary['plain_p95_ms']} ms",
        file=sys.stderr,
    )
    print(
        f"registration with per-user key + sealing: p50 {summary['sealed_p50_ms']} ms, "
        f"p95 {summary['sealed_p95_ms']} ms",
        file=sys.stderr,
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
