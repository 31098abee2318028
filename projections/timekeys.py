"""Event times as sortable strings.

Events carry RFC 3339 times; the platform writes them as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (27 characters), which sort lexicographically
in time order. Comparing those strings is far cheaper than building datetimes
in the replay hot path; any other spelling is normalised once.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["CANONICAL_LENGTH", "time_key"]

CANONICAL_LENGTH = 27


def time_key(value: str | datetime) -> str:
    """The canonical UTC ``...ffffffZ`` spelling of a time (naive datetimes are taken as UTC)."""
    if isinstance(value, str):
        if len(value) == CANONICAL_LENGTH and value[-1] == "Z" and value[19] == ".":
            return value
        value = datetime.fromisoformat(value.replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
