"""The events index design, kept as data: ingest pipeline, index template, mapping.

Applied to the domain by ``scripts/apply_search_template.py`` (a deploy step):

- ingest pipeline ``<alias>-ingest`` (the index's ``default_pipeline``): sets
  ``_id`` to the event id, so a redelivered event overwrites its document
  even when Firehose (which cannot choose ``_id``) delivers it, and builds
  ``text`` from every string value of ``data``, like ``to_document`` does;
- index template ``<alias>`` for ``<alias>-*``: settings and the mapping;
- the alias ``<alias>`` (read and write, ``is_write_index``) in front of one
  concrete index ``<alias>-v1``; a rebuild fills ``<alias>-<timestamp>`` and
  swaps the alias in one ``_aliases`` call.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "INDEX_MAPPINGS",
    "INDEX_SETTINGS",
    "TEXT_SCRIPT",
    "index_body",
    "index_template",
    "ingest_pipeline",
    "pipeline_name",
]

# Painless has no recursive lambdas, so walk ``data`` with an explicit stack.
TEXT_SCRIPT = """
List parts = new ArrayList();
List stack = new ArrayList();
if (ctx.data != null) { stack.add(ctx.data); }
while (!stack.isEmpty()) {
  def value = stack.remove(stack.size() - 1);
  if (value instanceof Map) { stack.addAll(((Map) value).values()); }
  else if (value instanceof List) { stack.addAll((List) value); }
  else if (value instanceof String) { parts.add(value); }
}
ctx.text = String.join(' ', parts);
""".strip()

INDEX_MAPPINGS: dict[str, Any] = {
    # Unknown top-level attributes (future CloudEvent extensions) stay in
    # _source without changing the mapping or failing the delivery.
    "dynamic": False,
    "properties": {
        "specversion": {"type": "keyword"},
        "id": {"type": "keyword"},
        "source": {"type": "keyword"},
        "type": {"type": "keyword"},
        "subject": {"type": "keyword"},
        # date_nanos: events carry microseconds; newest-first must not tie at ms.
        "time": {"type": "date_nanos"},
        "datacontenttype": {"type": "keyword"},
        "aggregateversion": {"type": "integer"},
        # flat_object: event data differs per type (an address is a string or
        # an object), which would be mapping conflicts as a dynamic object.
        "data": {"type": "flat_object"},
        "text": {"type": "text", "analyzer": "event_text"},
    },
}

INDEX_SETTINGS: dict[str, Any] = {
    "analysis": {
        "analyzer": {
            # asciifolding: "José" matches "jose", like SQLite's remove_diacritics.
            "event_text": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            }
        }
    },
}


def pipeline_name(alias: str) -> str:
    return f"{alias}-ingest"


def ingest_pipeline() -> dict[str, Any]:
    """The ingest pipeline body (``PUT _ingest/pipeline/<alias>-ingest``)."""
    return {
        "description": "event id as document id; free-text field from data",
        "processors": [
            {"set": {"field": "_id", "value": "{{{id}}}"}},
            {"script": {"lang": "painless", "source": TEXT_SCRIPT}},
        ],
    }


def index_body(alias: str) -> dict[str, Any]:
    """Settings and mappings of one concrete events index (``PUT <alias>-<version>``)."""
    settings = {**INDEX_SETTINGS, "index": {"default_pipeline": pipeline_name(alias)}}
    return {"settings": settings, "mappings": INDEX_MAPPINGS}


def index_template(alias: str) -> dict[str, Any]:
    """The composable index template (``PUT _index_template/<alias>``) for ``<alias>-*``."""
    return {"index_patterns": [f"{alias}-*"], "priority": 100, "template": index_body(alias)}
