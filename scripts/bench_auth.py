"""Cost of access-token verification per API request, measured in one run.

Serves ``GET /users/{id}`` through the Chalice app in-process (chalice.test
client, in-process moto), alternating between the production path (the
middleware verifies an RS256 access token: header, key lookup in the cached
key set, signature, issuer, token_use, client id, expiry) and a baseline
whose authentication returns the same caller without looking at the token.
The pool is a stand-in with its own RSA-2048 key (the size Cognito uses);
its key set is served in-process, as after the first request in Lambda.
Also times the verifier alone. Prints latency percentiles; the last line is
JSON: {"requests":..,"plain_p50_ms":..,"verified_p50_ms":..,"plain_p95_ms":..,
"verified_p95_ms":..,"overhead_p50_ms":..,"overhead_p95_ms":..,
"verify_only_p50_us":..,"verify_only_p95_us":..}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "chalice_app") not in sys.path:
    sys.path.insert(0, str(ROOT / "chalice_app"))


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--warmup", type=int, default=40, help="untimed requests first (caches, code paths)"
    )
    args = parser.parse_args(argv)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        import importlib

        from chalice.test import Client

        from chalicelib.adapters import aws, identity
        from chalicelib.domain.access import Caller
        from local_aws.provision import provision
        from local_aws.token_signer import TokenSigner

        signer = TokenSigner()
        os.environ.update(provision("bench"))
        os.environ.update(signer.environment())
        aws.jwks = lambda url: signer.jwks()  # type: ignore[assignment]
        aws.identity_attributes = signer.identity_attributes  # type: ignore[assignment]
        aws.reset()
        app = importlib.import_module("app").app
        verify = identity.authenticate

        def without_verification(authorization: str | None) -> Caller:
            return Caller("ada")

        headers = {"Authorization": f"Bearer {signer.token('ada')}"}
        timings: dict[str, list[float]] = {"plain": [], "verified": []}
        with Client(app) as client:
            body = {
                "name": "Ada",
                "lastname": "Lovelace",
                "address": "London",
            }
            created = client.http.post(
                "/users",
                headers={**headers, "Content-Type": "application/json"},
                body=json.dumps(body),
            )
            assert created.status_code == 201, created.body
            for i in range(2 * args.requests + args.warmup):
                mode = "verified" if i % 2 else "plain"
                identity.authenticate = verify if mode == "verified" else without_verification  # type: ignore[assignment]
                started = time.perf_counter()
                response = client.http.get("/users/ada", headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.body
                if i >= args.warmup:
                    timings[mode].append(elapsed)
            identity.authenticate = verify  # type: ignore[assignment]
        verifier: Any = identity.verifier()
        alone: list[float] = []
        for _ in range(args.requests):
            started = time.perf_counter()
            verifier.caller(headers["Authorization"])
            alone.append((time.perf_counter() - started) * 1_000_000)
    plain, verified = timings["plain"], timings["verified"]
    summary = {
        "requests": len(verified),
        "plain_p50_ms": round(statistics.median(plain), 3),
        "verified_p50_ms": round(statistics.median(verified), 3),
        "plain_p95_ms": round(_percentile(plain, 95), 3),
        "verified_p95_ms": round(_percentile(verified, 95), 3),
        "overhead_p50_ms": round(statistics.median(verified) - statistics.median(plain), 3),
        "overhead_p95_ms": round(_percentile(verified, 95) - _percentile(plain, 95), 3),
        "verify_only_p50_us": round(statistics.median(alone), 1),
        "verify_only_p95_us": round(_percentile(alone, 95), 1),
    }
    print(
        f"GET /users/{{id}} without verification: p50 {summary['plain_p50_ms']} ms, "
        f"p95 {summary['plain_p95_ms']} ms",
        file=sys.stderr,
    )
    print(
        f"GET /users/{{id}} with RS256 verification: p50 {summary['verified_p50_ms']} ms, "
        f"p95 {summary['verified_p95_ms']} ms",
        file=sys.stderr,
    )
    print(
        f"verification alone: p50 {summary['verify_only_p50_us']} us, "
        f"p95 {summary['verify_only_p95_us']} us",
        file=sys.stderr,
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
