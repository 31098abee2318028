"""The ``SearchIndex`` port, its result type and errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from chalicelib.adapters.search.query import SearchQuery
from chalicelib.domain.exceptions import Unavailable

__all__ = [
    "IndexAlreadyExists",
    "IndexNotFound",
    "SearchBackendError",
    "SearchIndex",
    "SearchResult",
    "SearchUnavailable",
    "ensure_alias",
    "validate_index_name",
    "versioned_index_name",
]

_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,254}$")


class SearchBackendError(RuntimeError):
    """The search backend failed or refused a request (not the client's fault)."""

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind


class IndexNotFound(SearchBackendError):
    """The index or alias does not exist."""


class IndexAlreadyExists(SearchBackendError):
    """``create_index`` of a name that exists."""


class SearchUnavailable(Unavailable):
    """Search is not set up (no index behind the alias, or no backend configured)."""

    code = "search_unavailable"


class SearchResult(msgspec.Struct, frozen=True):
    """Matching documents in total, and the requested page of events (newest first)."""

    total: int
    events: list[dict[str, Any]] = msgspec.field(default_factory=list)


class SearchIndex(Protocol):
    """Event search storage. ``alias`` is the name searched and written by default."""

    alias: str

    def index_events(self, events: Iterable[Mapping[str, Any]], index: str | None = None) -> int:
        """Index (upsert by event id) into ``index`` or the alias; the count indexed."""
        ...

    def search(self, query: SearchQuery) -> SearchResult:
        """Events matching ``query`` through the alias, newest first (time, then id)."""
        ...

    def create_index(self, name: str) -> None:
        """A new empty index with the events mapping; IndexAlreadyExists if taken."""
        ...

    def swap_alias(self, index: str) -> list[str]:
        """Point the alias at ``index`` only (atomically); the indices it pointed to."""
        ...

    def aliased_indices(self) -> list[str]:
        """The indices the alias points to now (empty if it does not exist)."""
        ...

    def delete_index(self, name: str) -> None:
        """Drop an index (and the alias, if it pointed there); IndexNotFound if missing."""
        ...

    def expunge_deleted(self) -> None:
        """Physically drop overwritten and deleted documents (after an erasure)."""
        ...


def validate_index_name(name: str) -> str:
    """OpenSearch's rule, enforced locally too: lower case, no spaces or specials."""
    if not _INDEX_NAME.match(name):
        raise SearchBackendError(f"invalid index name {name!r}", status=400)
    return name


def versioned_index_name(alias: str, now: datetime | None = None) -> str:
    """A fresh index name for a rebuild behind ``alias``: ``<alias>-<UTC timestamp>``."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{alias}-{when:%Y%m%d%H%M%S%f}"


def ensure_alias(index: SearchIndex) -> str:
    """Make the alias usable: if it points nowhere, create ``<alias>-v1`` behind it."""
    current = index.aliased_indices()
    if current:
        return current[0]
    name = f"{index.alias}-v1"
    with contextlib.suppress(IndexAlreadyExists):  # a concurrent ensure_alias won the race
        index.create_index(name)
    index.swap_alias(name)
    return name
