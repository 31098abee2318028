"""Contract of the OpenSearch adapter, without an engine.

A local HTTP stub (127.0.0.1, port 0) records every request and answers with
real OpenSearch response shapes, so these tests pin the exact query DSL and
bulk bodies sent, SigV4 signing, and how responses and errors are parsed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials

from chalicelib.adapters.search import (
    IndexAlreadyExists,
    IndexNotFound,
    SearchBackendError,
    SearchQuery,
)
from chalicelib.adapters.search.opensearch import OpenSearchIndex, build_search_body, connect
from chalicelib.adapters.search.template import index_body, index_template, ingest_pipeline
from chalicelib.entrypoints.search_params import parse_search_query

SORT = [{"time": {"order": "desc"}}, {"id": {"order": "desc"}}]
EXCLUDES = {"excludes": ["text"]}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class Stub:
    """Canned replies by (method, path); every request is recorded."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    replies: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)

    def reply(self, method: str, path: str, status: int, body: Any) -> None:
        self.replies[(method, path)] = (status, body)


@pytest.fixture
def stub() -> Iterator[Stub]:
    """GIVEN an HTTP stub standing in for an OpenSearch domain."""
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(
                Recorded(
                    self.command,
                    split.path,
                    parse_qs(split.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            status, reply = state.replies.get((self.command, split.path), (200, {}))
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def index(stub: Stub) -> OpenSearchIndex:
    client = connect(
        stub.url, "eu-west-1", credentials=Credentials("AKIDEXAMPLE", "secret", "token")
    )
    return OpenSearchIndex(client, alias="events")


def _event(n: int, **overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": f"id-{n}",
        "source": "/users",
        "type": "com.example.user.created",
        "time": f"2026-03-01T10:00:0{n}.000000Z",
        "subject": f"user-{n}",
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": {"name": "Ana", "address": {"city": "Lisboa"}, "loyalty": True},
    }
    return {**event, **overrides}


def _hits(events: list[dict[str, Any]], total: Any) -> dict[str, Any]:
    return {
        "took": 3,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": total,
            "max_score": None,
            "hits": [
                {
                    "_index": "events-v1",
                    "_id": e["id"],
                    "_score": None,
                    "_source": e,
                    "sort": [1, e["id"]],
                }
                for e in events
            ],
        },
    }


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    cause = {"type": kind, "reason": reason, "index": "events"}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


FROM, TO = "2026-03-01T00:00:00.000000Z", "2026-03-02T00:00:00.000000Z"
TERM_TYPE = {"term": {"type": "com.example.user.created"}}
TERM_SUBJECT = {"term": {"subject": "user-1"}}
MATCH_Q = {"match": {"text": {"query": "ana lisboa", "operator": "and"}}}


@pytest.mark.parametrize(
    ("params", "expected_query"),
    [
        ({}, {"match_all": {}}),
        ({"type": "com.example.user.created"}, {"bool": {"filter": [TERM_TYPE]}}),
        ({"subject": "user-1"}, {"bool": {"filter": [TERM_SUBJECT]}}),
        ({"q": "ana lisboa"}, {"bool": {"must": [MATCH_Q]}}),
        ({"from": FROM}, {"bool": {"filter": [{"range": {"time": {"gte": FROM}}}]}}),
        ({"to": TO}, {"bool": {"filter": [{"range": {"time": {"lte": TO}}}]}}),
        (
            {
                "type": "com.example.user.created",
                "subject": "user-1",
                "q": "ana lisboa",
                "from": "2026-03-01T01:00:00+01:00",
                "to": "2026-03-02",
            },
            {
                "bool": {
                    "filter": [
                        TERM_TYPE,
                        TERM_SUBJECT,
                        {"range": {"time": {"gte": FROM, "lte": TO}}},
                    ],
                    "must": [MATCH_Q],
                }
            },
        ),
    ],
    ids=["none", "type", "subject", "q", "from", "to", "all"],
)
def test_search_sends_the_query_dsl_for_each_filter_combination(
    stub: Stub, index: OpenSearchIndex, params: dict[str, str], expected_query: dict[str, Any]
) -> None:
    # GIVEN a domain answering the search
    stub.reply("POST", "/events/_search", 200, _hits([], {"value": 0, "relation": "eq"}))
    # WHEN searching with these parameters and size 7
    index.search(parse_search_query({**params, "size": "7"}))
    # THEN exactly this body goes to the alias's _search, signed with SigV4
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/events/_search")
    assert request.json() == {
        "size": 7,
        "track_total_hits": True,
        "query": expected_query,
        "sort": SORT,
        "_source": EXCLUDES,
    }
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/es/aws4_request" in request.headers["authorization"]
    assert request.headers["x-amz-security-token"] == "token"


def test_build_search_body_passes_free_text_through_unparsed() -> None:
    # GIVEN query-syntax characters in q  WHEN building the body
    body = build_search_body(SearchQuery(q='"AND( name:* \\'))
    # THEN they stay inside a match query (which never parses syntax)
    assert body["query"] == {
        "bool": {"must": [{"match": {"text": {"query": '"AND( name:* \\', "operator": "and"}}}]}
    }


def test_a_q_without_any_word_sends_nothing_and_finds_nothing(
    stub: Stub, index: OpenSearchIndex
) -> None:
    # WHEN q holds only punctuation
    result = index.search(parse_search_query({"q": '*"()'}))
    # THEN no request is made and nothing matches (what match would answer)
    assert (result.total, result.events, stub.requests) == (0, [], [])


@pytest.mark.parametrize("total", [{"value": 42, "relation": "eq"}, 42], ids=["object", "int"])
def test_search_parses_hits_and_total(stub: Stub, index: OpenSearchIndex, total: Any) -> None:
    # GIVEN a response with two hits whose _source still carries the text field
    docs = [{**_event(2), "text": "Ana Lisboa"}, _event(1)]
    stub.reply("POST", "/events/_search", 200, _hits(docs, total))
    # WHEN searching
    result = index.search(SearchQuery())
    # THEN total comes from hits.total and events are the CloudEvents in hit order
    assert result.total == 42
    assert result.events == [_event(2), _event(1)]


def test_search_of_a_missing_index_raises_index_not_found(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply(
        "POST", "/events/_search", 404, _error("index_not_found_exception", "no such index", 404)
    )
    with pytest.raises(IndexNotFound, match="index_not_found_exception: no such index"):
        index.search(SearchQuery())


def test_a_400_parse_error_raises_a_backend_error_with_its_kind(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply(
        "POST", "/events/_search", 400, _error("parsing_exception", "unknown query [x]", 400)
    )
    with pytest.raises(SearchBackendError) as caught:
        index.search(SearchQuery(type="t"))
    assert (caught.value.status, caught.value.kind) == (400, "parsing_exception")
    assert not isinstance(caught.value, IndexNotFound)


def test_an_unexpected_response_shape_raises_a_backend_error(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply("POST", "/events/_search", 200, {"hits": {"hits": []}})
    with pytest.raises(SearchBackendError, match="unexpected search response shape"):
        index.search(SearchQuery())


def test_index_events_bulk_upserts_by_event_id_through_the_alias(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply("POST", "/_bulk", 200, {"took": 5, "errors": False, "items": []})
    # WHEN indexing two events through the alias
    count = index.index_events([_event(1), _event(2)])
    # THEN one bulk request: action lines keyed by event id, documents with their text field
    (request,) = stub.requests
    assert (request.method, request.path, count) == ("POST", "/_bulk", 2)
    assert request.query == {"require_alias": ["true"]}
    assert request.headers["content-type"].startswith("application/")
    lines = request.ndjson()
    assert lines[0] == {"index": {"_index": "events", "_id": "id-1"}}
    assert lines[1] == {**_event(1), "text": "Ana Lisboa"}
    assert lines[2] == {"index": {"_index": "events", "_id": "id-2"}}


def test_index_events_into_a_named_index_does_not_require_an_alias(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply("POST", "/_bulk", 200, {"took": 5, "errors": False, "items": []})
    index.index_events([_event(1)], index="events-20260301")
    (request,) = stub.requests
    assert request.query == {}
    assert request.ndjson()[0] == {"index": {"_index": "events-20260301", "_id": "id-1"}}


def test_bulk_item_errors_raise_with_the_first_reason(stub: Stub, index: OpenSearchIndex) -> None:
    item_error = {"type": "mapper_parsing_exception", "reason": "failed to parse field [time]"}
    stub.reply(
        "POST",
        "/_bulk",
        200,
        {
            "took": 5,
            "errors": True,
            "items": [
                {
                    "index": {
                        "_index": "events-v1",
                        "_id": "id-1",
                        "status": 201,
                        "result": "created",
                    }
                },
                {
                    "index": {
                        "_index": "events-v1",
                        "_id": "id-2",
                        "status": 400,
                        "error": item_error,
                    }
                },
            ],
        },
    )
    with pytest.raises(SearchBackendError, match=r"1 of 2 .*mapper_parsing_exception") as caught:
        index.index_events([_event(1), _event(2)])
    assert caught.value.status == 400


def test_create_index_puts_settings_and_mappings(stub: Stub, index: OpenSearchIndex) -> None:
    index.create_index("events-20260301")
    (request,) = stub.requests
    assert (request.method, request.path) == ("PUT", "/events-20260301")
    assert request.json() == index_body("events")
    assert request.json()["mappings"]["properties"]["time"] == {"type": "date_nanos"}
    assert request.json()["settings"]["index"] == {"default_pipeline": "events-ingest"}


def test_create_index_of_an_existing_name_raises_index_already_exists(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply("PUT", "/events-v1", 400, _error("resource_already_exists_exception", "exists", 400))
    with pytest.raises(IndexAlreadyExists):
        index.create_index("events-v1")


def test_swap_alias_moves_the_alias_in_one_atomic_call(stub: Stub, index: OpenSearchIndex) -> None:
    # GIVEN the alias on events-v1
    stub.reply("GET", "/_alias/events", 200, {"events-v1": {"aliases": {"events": {}}}})
    # WHEN swapping it to a rebuilt index
    previous = index.swap_alias("events-20260301")
    # THEN one _aliases call removes the old and adds the new as the write index
    assert previous == ["events-v1"]
    request = stub.requests[-1]
    assert (request.method, request.path) == ("POST", "/_aliases")
    assert request.json() == {
        "actions": [
            {"remove": {"index": "events-v1", "alias": "events"}},
            {"add": {"index": "events-20260301", "alias": "events", "is_write_index": True}},
        ]
    }


def test_swap_alias_when_the_alias_does_not_exist_yet(stub: Stub, index: OpenSearchIndex) -> None:
    stub.reply(
        "GET",
        "/_alias/events",
        404,
        {"error": "alias [events] missing", "status": 404},
    )
    assert index.swap_alias("events-v1") == []
    assert stub.requests[-1].json() == {
        "actions": [{"add": {"index": "events-v1", "alias": "events", "is_write_index": True}}]
    }


def test_delete_index_of_a_missing_index_raises_index_not_found(
    stub: Stub, index: OpenSearchIndex
) -> None:
    stub.reply("DELETE", "/events-old", 404, _error("index_not_found_exception", "no such", 404))
    with pytest.raises(IndexNotFound):
        index.delete_index("events-old")
    assert stub.requests[-1].method == "DELETE"


def test_apply_template_puts_the_pipeline_and_the_index_template(
    stub: Stub, index: OpenSearchIndex
) -> None:
    index.apply_template()
    pipeline, template = stub.requests
    assert (pipeline.method, pipeline.path) == ("PUT", "/_ingest/pipeline/events-ingest")
    assert pipeline.json() == ingest_pipeline()
    assert pipeline.json()["processors"][0] == {"set": {"field": "_id", "value": "{{{id}}}"}}
    assert (template.method, template.path) == ("PUT", "/_index_template/events")
    assert template.json() == index_template("events")
    assert template.json()["index_patterns"] == ["events-*"]


def test_apply_search_template_script_sets_up_pipeline_template_and_first_index(
    stub: Stub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import apply_search_template

    # GIVEN a fresh domain (no alias yet) and AWS credentials in the environment
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    stub.reply("GET", "/_alias/events", 404, {"error": "alias [events] missing", "status": 404})
    # WHEN the deploy step runs
    code = apply_search_template.main(["--endpoint", stub.url, "--region", "eu-west-1"])
    # THEN pipeline, template, index events-v1 and the alias are put, in that order
    assert code == 0
    assert [(r.method, r.path) for r in stub.requests] == [
        ("PUT", "/_ingest/pipeline/events-ingest"),
        ("PUT", "/_index_template/events"),
        ("GET", "/_alias/events"),
        ("PUT", "/events-v1"),
        ("GET", "/_alias/events"),
        ("POST", "/_aliases"),
    ]
    assert json.loads(capsys.readouterr().out) == {"alias": "events", "index": "events-v1"}


def test_expunge_deleted_force_merges_only_deletes(stub: Stub, index: OpenSearchIndex) -> None:
    # WHEN redacted documents must leave the segments (after an erasure)
    index.expunge_deleted()
    # THEN one force merge of the alias that only expunges deleted documents
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/events/_forcemerge")
    assert request.query == {"only_expunge_deletes": ["true"]}


def test_a_domain_that_cannot_be_reached_raises_a_connection_backend_error() -> None:
    # GIVEN an endpoint where nothing listens (the discard port)
    client = connect("http://127.0.0.1:9", "eu-west-1", credentials=Credentials("AK", "s"))
    # WHEN searching  THEN a backend error without a status, not a transport exception
    with pytest.raises(
        SearchBackendError, match="opensearch connection connection_error"
    ) as caught:
        OpenSearchIndex(client).search(SearchQuery())
    assert (caught.value.status, caught.value.kind) == (None, "connection_error")


def test_a_gateway_error_is_retried_twice_then_raised(stub: Stub, index: OpenSearchIndex) -> None:
    # GIVEN a domain whose gateway keeps answering 503
    stub.reply("POST", "/events/_search", 503, {"message": "Service Unavailable"})
    # WHEN searching
    with pytest.raises(SearchBackendError) as caught:
        index.search(SearchQuery())
    # THEN the request went out three times, each signed, and the 503 surfaces
    assert len(stub.requests) == 3
    assert all(r.headers["authorization"].startswith("AWS4-HMAC-SHA256") for r in stub.requests)
    assert caught.value.status == 503
