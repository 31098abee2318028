"""Personal data in the search index: decrypted on the way in, redacted on erasure.

The index is a read model that must match personal fields (a name in ``q``),
so events are opened before indexing, as a Firehose transformation Lambda
does in AWS. When a person is erased, their documents are re-indexed with the
personal fields replaced by the redaction marker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.search.documents import current_event
from chalicelib.adapters.search.port import SearchIndex
from chalicelib.adapters.search.query import MAX_SIZE, SearchQuery
from chalicelib.domain.events import DATA_MODELS, USER_ERASED
from chalicelib.domain.personal_fields import REDACTED

if TYPE_CHECKING:
    # Redacting erased people's documents needs no cryptography; opening fields does.
    from chalicelib.adapters.personal_data import PersonalDataVault

__all__ = ["open_personal_fields", "redact_erased"]


def _personal_fields(event_type: str) -> frozenset[str]:
    model = DATA_MODELS.get(event_type)
    return model.personal_fields if model is not None else frozenset()


def open_personal_fields(vault: PersonalDataVault, event: Mapping[str, Any]) -> dict[str, Any]:
    """``event``, of the current version, with its personal fields decrypted.

    REDACTED once the key is gone; InvalidDocument for a platform type's
    event that is not a valid one.
    """
    fields = _personal_fields(str(event.get("type", "")))
    data = event.get("data")
    if not fields or not isinstance(data, Mapping):
        return current_event(event)
    return current_event({**event, "data": vault.open(str(event["subject"]), data, fields)})


def redact_erased(index: SearchIndex, events: Sequence[Mapping[str, Any]]) -> int:
    """Redact the indexed personal fields of every person erased in ``events``; docs rewritten."""
    rewritten = 0
    for erased in (e for e in events if e.get("type") == USER_ERASED):
        page = index.search(SearchQuery(subject=str(erased["subject"]), size=MAX_SIZE))
        documents = []
        for doc in page.events:
            fields = _personal_fields(str(doc.get("type", ""))) & set(doc.get("data", {}))
            if fields and any(doc["data"][f] != REDACTED for f in fields):
                documents.append(
                    {**doc, "data": {**doc["data"], **dict.fromkeys(fields, REDACTED)}}
                )
        if documents:
            rewritten += index.index_events(documents)
    if rewritten:
        index.expunge_deleted()
    return rewritten
