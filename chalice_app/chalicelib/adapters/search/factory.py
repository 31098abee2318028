"""Build the configured ``SearchIndex`` adapter from settings."""

from __future__ import annotations

from chalicelib.adapters.search.port import SearchIndex, SearchUnavailable
from chalicelib.settings import Settings

__all__ = ["make_search_index"]


def make_search_index(settings: Settings) -> SearchIndex:
    """``SEARCH_BACKEND``: ``opensearch`` (AWS, SigV4) or ``sqlite`` (the local stack)."""
    backend = settings.search_backend
    if backend == "sqlite":
        from chalicelib.adapters.search.sqlite import SqliteSearchIndex

        if not settings.search_sqlite_path:
            raise SearchUnavailable("search is not configured (SEARCH_SQLITE_PATH is empty)")
        return SqliteSearchIndex(settings.search_sqlite_path, settings.opensearch_index)
    if backend == "opensearch":
        from chalicelib.adapters.search.opensearch import OpenSearchIndex, connect

        if not settings.opensearch_endpoint:
            raise SearchUnavailable("search is not configured (OPENSEARCH_ENDPOINT is empty)")
        client = connect(settings.opensearch_endpoint, settings.region)
        return OpenSearchIndex(client, settings.opensearch_index)
    raise SearchUnavailable(f"unknown SEARCH_BACKEND {backend!r}")
