"""The ``SearchIndex`` adapter for Amazon OpenSearch Service (REST over SigV4-signed HTTPS)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import boto3

from chalicelib.adapters.search.documents import TEXT_FIELD, to_document
from chalicelib.adapters.search.port import (
    IndexAlreadyExists,
    IndexNotFound,
    SearchBackendError,
    SearchResult,
)
from chalicelib.adapters.search.query import SearchQuery
from chalicelib.adapters.search.template import (
    index_body,
    index_template,
    ingest_pipeline,
    pipeline_name,
)
from chalicelib.adapters.search.transport import OpenSearchHttp, Signer, TransportError

__all__ = ["OpenSearchIndex", "build_search_body", "connect"]

T = TypeVar("T")
_TIMEOUT_SECONDS = 10


def _quote(name: str) -> str:
    """An index, alias or pipeline name as one path segment."""
    return quote(name, safe="")


def build_search_body(query: SearchQuery) -> dict[str, Any]:
    """The one place the query DSL is built: filters, free text, order and size."""
    filters: list[dict[str, Any]] = []
    if query.type is not None:
        filters.append({"term": {"type": query.type}})
    if query.subject is not None:
        filters.append({"term": {"subject": query.subject}})
    if query.time_from is not None or query.time_to is not None:
        bounds = {"gte": query.time_from, "lte": query.time_to}
        filters.append({"range": {"time": {k: v for k, v in bounds.items() if v is not None}}})
    must: list[dict[str, Any]] = []
    if query.q is not None:
        # `match` never parses query syntax, so any client text is safe; all terms must match.
        must.append({"match": {TEXT_FIELD: {"query": query.q, "operator": "and"}}})
    clauses = {name: value for name, value in (("filter", filters), ("must", must)) if value}
    return {
        "size": query.size,
        "track_total_hits": True,
        "query": {"bool": clauses} if clauses else {"match_all": {}},
        "sort": [{"time": {"order": "desc"}}, {"id": {"order": "desc"}}],
        "_source": {"excludes": [TEXT_FIELD]},
    }


def parse_search_response(response: Mapping[str, Any]) -> SearchResult:
    """A ``_search`` response as a SearchResult (``hits.total`` as object or integer)."""
    try:
        hits = response["hits"]
        total = hits["total"]
        count = int(total["value"] if isinstance(total, Mapping) else total)
        events = [
            {k: v for k, v in hit["_source"].items() if k != TEXT_FIELD} for hit in hits["hits"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise SearchBackendError(f"unexpected search response shape: {exc!r}") from None
    return SearchResult(total=count, events=events)


def _error(exc: TransportError) -> SearchBackendError:
    status, kind = exc.status, exc.kind
    info = exc.info if isinstance(exc.info, Mapping) else {}
    error = info.get("error")
    if status is None:  # never reached the domain
        kind, reason = "connection_error", str(exc.info or "")
    elif isinstance(error, Mapping):
        reason = error.get("reason", "")
    else:
        reason = str(error or "")
    message = f"opensearch {status or 'connection'} {kind}: {reason}".rstrip(": ")
    if kind in ("index_not_found_exception", "aliases_not_found_exception"):
        return IndexNotFound(message, status=status, kind=kind)
    if kind == "resource_already_exists_exception":
        return IndexAlreadyExists(message, status=status, kind=kind)
    return SearchBackendError(message, status=status, kind=kind)


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except TransportError as exc:
        raise _error(exc) from exc


class OpenSearchIndex:
    """Event search on an OpenSearch domain reached through ``client``."""

    def __init__(self, client: OpenSearchHttp, alias: str = "events") -> None:
        self._client = client
        self.alias = alias

    def index_events(self, events: Iterable[Mapping[str, Any]], index: str | None = None) -> int:
        body: list[dict[str, Any]] = []
        for event in events:
            document = to_document(event)
            body.append({"index": {"_index": index or self.alias, "_id": document["id"]}})
            body.append(document)
        if not body:
            return 0
        # require_alias: writing through the alias must never auto-create an
        # unmapped concrete index named like the alias.
        params = {} if index else {"require_alias": "true"}
        response = _call(lambda: self._client.request("POST", "/_bulk", params=params, lines=body))
        if response.get("errors"):
            failed = [
                item.get("index", {})
                for item in response.get("items", [])
                if item.get("index", {}).get("error")
            ]
            first = failed[0]["error"] if failed else {}
            raise SearchBackendError(
                f"{len(failed)} of {len(body) // 2} document(s) failed: "
                f"{first.get('type')}: {first.get('reason')}",
                status=failed[0].get("status") if failed else None,
                kind=first.get("type"),
            )
        return len(body) // 2

    def search(self, query: SearchQuery) -> SearchResult:
        if query.q is not None and not query.terms:
            # No word in q: OpenSearch's match would find nothing; skip the round trip.
            return SearchResult(total=0, events=[])
        body = build_search_body(query)
        response = _call(
            lambda: self._client.request("POST", f"/{_quote(self.alias)}/_search", body=body)
        )
        return parse_search_response(response)

    def create_index(self, name: str) -> None:
        _call(lambda: self._client.request("PUT", f"/{_quote(name)}", body=index_body(self.alias)))

    def aliased_indices(self) -> list[str]:
        try:
            response = _call(lambda: self._client.request("GET", f"/_alias/{_quote(self.alias)}"))
        except SearchBackendError as exc:
            if exc.status == 404:  # {"error": "alias [x] missing", "status": 404}
                return []
            raise
        return sorted(response)

    def swap_alias(self, index: str) -> list[str]:
        previous = self.aliased_indices()
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": self.alias}} for old in previous if old != index
        ]
        actions.append({"add": {"index": index, "alias": self.alias, "is_write_index": True}})
        _call(lambda: self._client.request("POST", "/_aliases", body={"actions": actions}))
        return previous

    def delete_index(self, name: str) -> None:
        _call(lambda: self._client.request("DELETE", f"/{_quote(name)}"))

    def expunge_deleted(self) -> None:
        # Overwritten documents linger in Lucene segments until a merge drops them.
        _call(
            lambda: self._client.request(
                "POST",
                f"/{_quote(self.alias)}/_forcemerge",
                params={"only_expunge_deletes": "true"},
            )
        )

    def apply_template(self) -> None:
        """Put the ingest pipeline and the index template (idempotent)."""
        _call(
            lambda: self._client.request(
                "PUT",
                f"/_ingest/pipeline/{_quote(pipeline_name(self.alias))}",
                body=ingest_pipeline(),
            )
        )
        _call(
            lambda: self._client.request(
                "PUT", f"/_index_template/{_quote(self.alias)}", body=index_template(self.alias)
            )
        )


def connect(
    endpoint: str, region: str, *, credentials: Any = None, service: str = "es"
) -> OpenSearchHttp:
    """A client signing requests with SigV4 (boto3's credential chain by default)."""
    if credentials is None:
        credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise SearchBackendError("no AWS credentials to sign OpenSearch requests")
    return OpenSearchHttp(
        endpoint,
        signer=Signer(credentials, region, service),
        timeout_seconds=_TIMEOUT_SECONDS,
        max_retries=2,
    )
