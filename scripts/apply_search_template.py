"""Deploy step: set up the events index on the OpenSearch domain (idempotent).

    python scripts/apply_search_template.py [--endpoint URL] [--alias events] [--region R]

Puts the ingest pipeline and the index template of chalicelib/adapters/search/template.py,
then, if the alias points nowhere yet, creates ``<alias>-v1`` behind it. Run it
after ``terraform apply`` (and the role mapping in infra/README.md), before
Firehose delivers: an alias that does not exist would make OpenSearch
auto-create a concrete index of that name. Requests are SigV4-signed with the
caller's AWS credentials. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import orjson

from chalicelib.adapters.search import ensure_alias
from chalicelib.adapters.search.opensearch import OpenSearchIndex, connect
from chalicelib.settings import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=settings.opensearch_endpoint or None)
    parser.add_argument("--alias", default=settings.opensearch_index)
    parser.add_argument("--region", default=settings.region)
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("--endpoint (or OPENSEARCH_ENDPOINT) is required")
    index = OpenSearchIndex(connect(args.endpoint, args.region), args.alias)
    index.apply_template()
    current = ensure_alias(index)
    print(orjson.dumps({"alias": args.alias, "index": current}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
