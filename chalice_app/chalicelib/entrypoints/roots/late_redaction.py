"""The late redaction role: the second pass of an erasure in the search index.

``search_late_redaction`` consumes the search redaction delay queue (see
roots.search). It is a role of its own so that the other search functions
do not import the SQS batch processing it alone needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import resources
from chalicelib.adapters.observability import BatchObserver, Outcome
from chalicelib.adapters.search.personal import redact_erased
from chalicelib.domain.events import USER_ERASED, parse_event
from chalicelib.entrypoints.roots.search import search_index
from chalicelib.entrypoints.sqs_batch import PartialItemFailureResponse, SQSRecord, process_messages

__all__ = ["redact_late"]


def redact_late(event: Mapping[str, Any], context: Any = None) -> PartialItemFailureResponse:
    """Redact the documents of the person erased in each SQS message; the failed messages.

    Message by message (chalicelib.entrypoints.sqs_batch): a message that fails returns
    to the queue alone, and reaches the DLQ after its max receive count;
    redacting twice is harmless.
    """
    observer = BatchObserver(resources.SEARCH_LATE_REDACTION.handler)

    def redact(record: SQSRecord) -> None:
        with observer.event(record.body) as slot:
            erasure = parse_event(record.body).to_dict()
            if erasure["type"] == USER_ERASED:
                redact_erased(search_index(), [erasure])
                slot["outcome"] = Outcome.REDACTED
            else:
                slot["outcome"] = Outcome.IGNORED

    try:
        return process_messages(event, redact, context)
    finally:
        observer.flush()
