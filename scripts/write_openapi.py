"""Write the API's OpenAPI 3.1 document to openapi.json (the committed copy).

    python scripts/write_openapi.py [--check] [--output openapi.json]

The document is generated from the Chalice app's routes and the models of
chalicelib/entrypoints/api_routes.py (the API serves the same at ``GET /openapi.json``).
``--check`` writes nothing and exits 1 when the committed copy is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT / "chalice_app", ROOT):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import app  # noqa: E402  (the Chalice app module: importing it registers its routes)
from chalicelib.entrypoints.openapi import build_document  # noqa: E402

__all__ = ["DEFAULT_OUTPUT", "document", "main", "render"]

DEFAULT_OUTPUT = ROOT / "openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the app in chalice_app/app.py."""
    return build_document(app.app.routes)


def render(doc: dict[str, Any]) -> str:
    """The committed text of a document: stable key order, two-space indent."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(document())
    if args.check:
        current = args.output.read_text() if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is stale: run `make openapi`", file=sys.stderr)
            return 1
        print(f"{args.output} is current")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
