"""The search role: the index adapter, the Firehose transform and erasures in the index.

An erasure reaches the index twice. ``search_erasure`` redacts the person's
indexed documents when ``user.erased`` is on the stream, and puts the erasure
on the search redaction delay queue; ``search_late_redaction`` (a role of
its own, roots.late_redaction) redacts again once the delay (the search
delivery window, see
``resources.SEARCH_LATE_REDACTION``) has passed. In between, Firehose may still
deliver a document the transform opened just before the erasure; after it,
none: the transform reads the person's key uncached, so once the key is
deleted it opens nothing, and whatever it opened before is delivered within
the window.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson

from chalicelib.adapters import aws, faults
from chalicelib.adapters.batching import BatchLimits, send_batches
from chalicelib.adapters.observability import BatchObserver, Outcome, event_fields, safe_reason
from chalicelib.adapters.search import SearchIndex
from chalicelib.adapters.search.factory import make_search_index
from chalicelib.adapters.search.personal import open_personal_fields, redact_erased
from chalicelib.domain.events import USER_ERASED, parse_event
from chalicelib.entrypoints import roots
from chalicelib.settings import Settings, get_settings

__all__ = [
    "firehose_transform",
    "open_event_personal_fields",
    "redact_erased_from_search",
    "search_index",
]

# SendMessageBatch: at most 10 entries and 256 KiB in all.
_SQS_BATCH = BatchLimits(max_entries=10, max_bytes=256 * 1024)

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
    """An event with its personal fields decrypted (or redacted), for the search index.

    The key is read uncached: a field is opened only while the person's key
    exists, never from a copy cached before the erasure.
    """
    return open_personal_fields(roots.vault.uncached_vault(), event)


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
    """Redact the search documents of people erased in a Kinesis batch, and schedule a redo.

    The erasures go on the delay queue first: if the redaction then fails, the
    batch is retried and schedules them again (redacting twice is harmless).
    """
    observer = BatchObserver("search_erasure")
    with observer.invocation(raw_records):
        faults.check("search_erasure")
        events = [parse_event(raw).to_dict() for raw in raw_records]
        erasures = [e for e in events if e["type"] == USER_ERASED]
        _schedule_late_redaction(erasures)
        redacted = redact_erased(search_index(), erasures) if erasures else 0
        for e in events:
            outcome = Outcome.REDACTED if e["type"] == USER_ERASED else Outcome.IGNORED
            observer.record(event_fields(e), outcome, observer.started)
    return redacted


def _schedule_late_redaction(erasures: list[dict[str, Any]]) -> None:
    """Put each erasure on the delay queue (its delay is the queue's own)."""
    if not erasures:
        return
    sqs = aws.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=get_settings().search_redaction_queue)["QueueUrl"]

    def send(chunk: list[bytes]) -> list[int]:
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": body.decode()} for i, body in enumerate(chunk)],
        )
        return [int(failed["Id"]) for failed in response.get("Failed", [])]

    bodies = [orjson.dumps(e) for e in erasures]
    unsent = send_batches(bodies, send, _SQS_BATCH, size=len)
    if unsent:
        # Fail the Kinesis batch: its retry schedules them again.
        raise RuntimeError(f"{len(unsent)} erasure(s) not scheduled for the late redaction")
