"""The search role: the index adapter, the Firehose transform and erasures in the index."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson

from chalicelib import faults, roots
from chalicelib.events import USER_ERASED, parse_event
from chalicelib.observability import BatchObserver, Outcome, event_fields, safe_reason
from chalicelib.search import SearchIndex
from chalicelib.search.factory import make_search_index
from chalicelib.search.personal import open_personal_fields, redact_erased
from chalicelib.settings import Settings, get_settings

__all__ = [
    "firehose_transform",
    "open_event_personal_fields",
    "redact_erased_from_search",
    "search_index",
]

_search_cache: dict[str, tuple[Settings, SearchIndex]] = {}


def search_index() -> SearchIndex:
    """The configured search adapter, built once per settings (``aws.reset()`` renews them)."""
    settings = get_settings()
    cached = _search_cache.get("index")
    if cached is None or cached[0] is not settings:
        cached = (settings, make_search_index(settings))
        _search_cache["index"] = cached
    return cached[1]


def open_event_personal_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event with its personal fields decrypted (or redacted), for the search index."""
    return open_personal_fields(roots.vault.vault(), event)


def firehose_transform(event: Mapping[str, Any]) -> dict[str, Any]:
    """Firehose data transformation (search destination): open personal fields.

    A record that is not a JSON object is returned as ProcessingFailed, which
    Firehose writes to the error prefix instead of the index.
    """
    records = []
    observer = BatchObserver("search_transform")
    for record in event.get("records", []):
        started = observer.started
        try:
            parsed = orjson.loads(base64.b64decode(record["data"]))
            if not isinstance(parsed, dict):
                raise ValueError("not a JSON object")
            data = orjson.dumps(open_event_personal_fields(parsed)) + b"\n"
            records.append(
                {
                    "recordId": record["recordId"],
                    "result": "Ok",
                    "data": base64.b64encode(data).decode(),
                }
            )
            observer.record(event_fields(parsed), Outcome.TRANSFORMED, started)
        except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
            records.append(
                {
                    "recordId": record["recordId"],
                    "result": "ProcessingFailed",
                    "data": record.get("data", ""),
                }
            )
            observer.record(event_fields({}), Outcome.FAILED, started, reason=safe_reason(exc))
    observer.flush()
    return {"records": records}


def redact_erased_from_search(raw_records: list[bytes]) -> int:
    """Redact the search documents of people erased in a Kinesis batch."""
    observer = BatchObserver("search_erasure")
    with observer.invocation(raw_records):
        faults.check("search_erasure")
        events = [parse_event(raw).to_dict() for raw in raw_records]
        erased = any(e["type"] == USER_ERASED for e in events)
        redacted = redact_erased(search_index(), events) if erased else 0
        for e in events:
            outcome = Outcome.REDACTED if e["type"] == USER_ERASED else Outcome.IGNORED
            observer.record(event_fields(e), outcome, observer.started)
    return redacted
