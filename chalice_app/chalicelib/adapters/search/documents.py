"""From a CloudEvent to the search document both backends index."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import msgspec
import orjson

from chalicelib.adapters.search.query import normalize_time
from projections.catalogue import DATA_TYPES, UnknownEventVersion, current_mapping, schema_uri

__all__ = [
    "TEXT_FIELD",
    "InvalidDocument",
    "current_event",
    "document_time",
    "event_text",
    "parse_ndjson",
    "shown_event",
    "to_document",
]

TEXT_FIELD = "text"
_KEYWORDS = ("id", "type", "subject", "source")


class InvalidDocument(ValueError):
    """An event that cannot be indexed (not a CloudEvent of this platform)."""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def event_text(data: Any) -> str:
    """The free-text field: every string value of ``data``, nested ones included."""
    return " ".join(_strings(data))


def current_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` as the current version of its type: an older one is upcast.

    InvalidDocument if it is of an older version but not a valid event of
    it; an event of the current version (or of another type) is left as is.
    """
    data_type = DATA_TYPES.get(str(event.get("type")))
    if data_type is None or event.get("dataschema") == schema_uri(
        data_type.type, data_type.version
    ):
        return dict(event)
    try:
        return current_mapping(event)
    except (msgspec.ValidationError, UnknownEventVersion) as exc:
        raise InvalidDocument(f"not a valid {data_type.type} event: {exc}") from None


def shown_event(document: Mapping[str, Any]) -> dict[str, Any]:
    """An indexed event as a reader is shown it: the current version when it can be upcast.

    A document that cannot (indexed from a malformed event) is shown as it was
    indexed: reading the index never fails on one document.
    """
    try:
        return current_event(document)
    except InvalidDocument:
        return dict(document)


def to_document(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event plus its ``text`` field; InvalidDocument if it lacks what the index needs.

    The OpenSearch ingest pipeline builds the same ``text`` for documents
    Firehose delivers (see template.py), so both paths index alike.
    """
    if not isinstance(event, Mapping):
        raise InvalidDocument("an event must be a JSON object")
    for key in _KEYWORDS:
        if not isinstance(event.get(key), str) or not event[key]:
            raise InvalidDocument(f"event field {key!r} must be a non-empty string")
    version = event.get("aggregateversion")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidDocument("event field 'aggregateversion' must be an integer")
    if not isinstance(event.get("data"), Mapping):
        raise InvalidDocument("event field 'data' must be an object")
    try:
        normalize_time(datetime.fromisoformat(str(event.get("time"))))
    except (ValueError, OverflowError):
        raise InvalidDocument(f"event time {event.get('time')!r} is not ISO-8601") from None
    document = {key: value for key, value in event.items() if key != TEXT_FIELD}
    document[TEXT_FIELD] = event_text(event["data"])
    return document


def document_time(document: Mapping[str, Any]) -> str:
    """The normalized UTC time of a document built by ``to_document``."""
    return normalize_time(datetime.fromisoformat(str(document["time"])))


def parse_ndjson(chunks: Iterable[bytes | str]) -> Iterator[dict[str, Any] | None]:
    """Each line's JSON object (None for a line that is not one), skipping blank lines."""
    for chunk in chunks:
        for line in chunk.splitlines():
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield None
                continue
            yield value if isinstance(value, dict) else None
