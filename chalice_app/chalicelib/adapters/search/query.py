"""The search port's query: a validated ``SearchQuery`` and the rules the index applies.

No pydantic here: every search function (the Firehose transform, the erasures)
imports this package, and only the API parses ``GET /search`` parameters
(chalicelib.entrypoints.search_params).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

__all__ = [
    "DEFAULT_SIZE",
    "MAX_FILTER_LENGTH",
    "MAX_Q_LENGTH",
    "MAX_SIZE",
    "MAX_TIME",
    "SearchQuery",
    "normalize_time",
    "text_terms",
]

DEFAULT_SIZE = 20
MAX_SIZE = 100
MAX_Q_LENGTH = 500
MAX_FILTER_LENGTH = 256
# OpenSearch maps `time` as date_nanos (exact ordering below a millisecond),
# which only holds instants up to here; later bounds are clamped to it.
MAX_TIME = datetime(2262, 4, 11, tzinfo=UTC)
_TERM = re.compile(r"\w+")


def normalize_time(value: datetime) -> str:
    """Fixed-width UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: string order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
    )


def text_terms(text: str) -> list[str]:
    """The lower-cased word terms of free text; every other character separates terms."""
    return [term.lower() for term in _TERM.findall(text)]


class SearchQuery(msgspec.Struct, frozen=True):
    """A validated event search; times are normalized UTC strings, bounds inclusive."""

    type: str | None = None
    subject: str | None = None
    q: str | None = None
    time_from: str | None = None
    time_to: str | None = None
    size: int = DEFAULT_SIZE

    @property
    def terms(self) -> list[str]:
        """Terms of ``q`` that must all match (empty: ``q`` matches nothing)."""
        return text_terms(self.q or "")
