"""Write Terraform's subscriber inputs from chalicelib.resources.SUBSCRIBERS.

    python scripts/gen_subscribers_tfvars.py [--check]

Writes infra/subscribers.auto.tfvars.json (committed; Terraform loads it
automatically). Terraform owns the resources and iterates over this variable;
the declaration stays in one place. ``--check`` exits 1 when the committed
file is not current.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "chalice_app") not in sys.path:
    sys.path.insert(0, str(ROOT / "chalice_app"))

from chalicelib import resources  # noqa: E402

__all__ = ["TFVARS", "main", "render", "tfvars"]

TFVARS = ROOT / "infra" / "subscribers.auto.tfvars.json"


def _subscriber(subscriber: resources.Subscriber) -> dict[str, Any]:
    queue, table = subscriber.queue, subscriber.table
    return {
        "handler": subscriber.handler,
        "needs": sorted(need.value for need in subscriber.needs),
        "reserved_concurrency": subscriber.reserved_concurrency,
        "queue": {
            "env_var": queue.env_var,
            "suffix": queue.suffix,
            # JSON so that every subscriber's queue has one Terraform type.
            "filter_policy_json": json.dumps(queue.filter_policy, sort_keys=True),
            "max_receive_count": queue.max_receive_count,
            "lambda_timeout_seconds": queue.lambda_timeout_seconds,
            "visibility_timeout_seconds": queue.visibility_timeout_seconds,
            "message_retention_seconds": queue.message_retention_seconds,
            "dlq_message_retention_seconds": queue.dlq_message_retention_seconds,
        },
        "table_key": table.key,
        "table": {
            "env_var": table.env_var,
            "suffix": table.suffix,
            "hash_key": table.hash_key,
            "hash_key_type": table.hash_key_type,
            "range_key": table.range_key,
            "range_key_type": table.range_key_type if table.range_key else None,
            "stream_view_type": table.stream_view_type,
            "ttl_attribute": table.ttl_attribute,
        },
    }


def tfvars() -> dict[str, Any]:
    """The Terraform variables derived from the declarations."""
    return {"subscribers": {s.key: _subscriber(s) for s in resources.SUBSCRIBERS}}


def render() -> str:
    """The generated file's content."""
    return json.dumps(tfvars(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args(argv)
    content = render()
    if args.check:
        current = TFVARS.read_text() if TFVARS.is_file() else ""
        if current != content:
            print(f"{TFVARS} is stale; run scripts/gen_subscribers_tfvars.py", file=sys.stderr)
            return 1
        return 0
    TFVARS.write_text(content)
    print(f"wrote {TFVARS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
