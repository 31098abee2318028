"""Event search (the search read side): one port, two adapters.

``SearchIndex`` is the port; ``OpenSearchIndex`` (AWS, the REST API over
SigV4-signed HTTPS with botocore and urllib3) and ``SqliteSearchIndex`` (the
local stack, FTS5) implement it. ``make_search_index`` picks one from
settings; each adapter is imported only when chosen. Parsing ``GET /search``
parameters into a ``SearchQuery`` is the HTTP edge's
(chalicelib.entrypoints.search_params): nothing here imports pydantic.
"""

from __future__ import annotations

from chalicelib.adapters.search.documents import InvalidDocument, to_document
from chalicelib.adapters.search.port import (
    IndexAlreadyExists,
    IndexNotFound,
    SearchBackendError,
    SearchIndex,
    SearchResult,
    SearchUnavailable,
    ensure_alias,
    versioned_index_name,
)
from chalicelib.adapters.search.query import MAX_SIZE, SearchQuery

__all__ = [
    "MAX_SIZE",
    "IndexAlreadyExists",
    "IndexNotFound",
    "InvalidDocument",
    "SearchBackendError",
    "SearchIndex",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "ensure_alias",
    "to_document",
    "versioned_index_name",
]
