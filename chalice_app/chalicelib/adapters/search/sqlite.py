"""The ``SearchIndex`` adapter on embedded SQLite with FTS5 (the local stack's index).

One database file holds any number of indices and aliases, like a small
OpenSearch: the local stack process writes (Firehose sink) while the API
process (``chalice local``) reads, hence WAL mode and a busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from os import PathLike
from typing import Any

import orjson

from chalicelib.adapters.search.documents import TEXT_FIELD, document_time, to_document
from chalicelib.adapters.search.port import (
    IndexAlreadyExists,
    IndexNotFound,
    SearchResult,
    validate_index_name,
)
from chalicelib.adapters.search.query import SearchQuery

__all__ = ["SqliteSearchIndex", "match_expression"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_indices (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS search_aliases (
    alias TEXT PRIMARY KEY,
    index_name TEXT NOT NULL REFERENCES search_indices(name)
);
CREATE TABLE IF NOT EXISTS search_docs (
    rowid INTEGER PRIMARY KEY,
    index_name TEXT NOT NULL,
    id TEXT NOT NULL,
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    source TEXT NOT NULL,
    aggregateversion INTEGER NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (index_name, id)
);
CREATE INDEX IF NOT EXISTS search_docs_by_time ON search_docs (index_name, time, id);
CREATE INDEX IF NOT EXISTS search_docs_by_type ON search_docs (index_name, type, time, id);
CREATE INDEX IF NOT EXISTS search_docs_by_subject ON search_docs (index_name, subject, time, id);
CREATE VIRTUAL TABLE IF NOT EXISTS search_text
    USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
"""

_UPSERT = """
INSERT INTO search_docs (index_name, id, time, type, subject, source, aggregateversion, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (index_name, id) DO UPDATE SET
    time = excluded.time, type = excluded.type, subject = excluded.subject,
    source = excluded.source, aggregateversion = excluded.aggregateversion, body = excluded.body
RETURNING rowid
"""


def match_expression(terms: list[str]) -> str:
    """An FTS5 MATCH expression requiring every term; each quoted, so no query syntax."""
    return " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)


class SqliteSearchIndex:
    """Event search in one SQLite file (indices, aliases, an FTS5 table for ``q``)."""

    def __init__(
        self, path: str | PathLike[str], alias: str = "events", *, timeout_seconds: float = 10.0
    ) -> None:
        self.path = str(path)
        self.alias = alias
        self._timeout = timeout_seconds
        with self._connection() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: cheap, and safe with chalice local's threads.
        with closing(
            sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        ) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Freed pages are zeroed: a redacted document leaves no old bytes behind.
            conn.execute("PRAGMA secure_delete = ON")
            yield conn

    @contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            # IMMEDIATE takes the write lock up front: no upgrade deadlock between writers.
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _resolve(conn: sqlite3.Connection, name: str) -> str:
        row = conn.execute("SELECT index_name FROM search_aliases WHERE alias = ?", (name,))
        found = row.fetchone()
        if found:
            return str(found[0])
        if conn.execute("SELECT 1 FROM search_indices WHERE name = ?", (name,)).fetchone():
            return name
        raise IndexNotFound(f"no such index [{name}]", status=404, kind="index_not_found_exception")

    def index_events(self, events: Iterable[Mapping[str, Any]], index: str | None = None) -> int:
        documents = [to_document(event) for event in events]
        if not documents:
            return 0
        with self._transaction(immediate=True) as conn:
            target = self._resolve(conn, index or self.alias)
            for document in documents:
                source = {k: v for k, v in document.items() if k != TEXT_FIELD}
                (rowid,) = conn.execute(
                    _UPSERT,
                    (
                        target,
                        document["id"],
                        document_time(document),
                        document["type"],
                        document["subject"],
                        document["source"],
                        document["aggregateversion"],
                        orjson.dumps(source),
                    ),
                ).fetchone()
                # Re-indexing an id keeps its rowid; REPLACE swaps the old text out.
                conn.execute(
                    "INSERT OR REPLACE INTO search_text (rowid, text) VALUES (?, ?)",
                    (rowid, document[TEXT_FIELD]),
                )
        return len(documents)

    def search(self, query: SearchQuery) -> SearchResult:
        where, args = ["d.index_name = ?"], []
        if query.type is not None:
            where.append("d.type = ?")
            args.append(query.type)
        if query.subject is not None:
            where.append("d.subject = ?")
            args.append(query.subject)
        if query.time_from is not None:
            where.append("d.time >= ?")
            args.append(query.time_from)
        if query.time_to is not None:
            where.append("d.time <= ?")
            args.append(query.time_to)
        if query.q is not None:
            terms = query.terms
            if not terms:
                return SearchResult(total=0, events=[])
            where.append("d.rowid IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)")
            args.append(match_expression(terms))
        condition = " AND ".join(where)
        with self._transaction() as conn:  # one snapshot for count and page
            target = self._resolve(conn, self.alias)
            (total,) = conn.execute(
                f"SELECT count(*) FROM search_docs d WHERE {condition}", [target, *args]
            ).fetchone()
            rows = conn.execute(
                f"SELECT body FROM search_docs d WHERE {condition} "
                "ORDER BY d.time DESC, d.id DESC LIMIT ?",
                [target, *args, query.size],
            ).fetchall()
        return SearchResult(total=int(total), events=[orjson.loads(row[0]) for row in rows])

    def create_index(self, name: str) -> None:
        validate_index_name(name)
        with self._transaction(immediate=True) as conn:
            taken = conn.execute(
                "SELECT 1 FROM search_indices WHERE name = ? "
                "UNION SELECT 1 FROM search_aliases WHERE alias = ?",
                (name, name),
            ).fetchone()
            if taken:
                raise IndexAlreadyExists(
                    f"index [{name}] already exists",
                    status=400,
                    kind="resource_already_exists_exception",
                )
            conn.execute("INSERT INTO search_indices (name) VALUES (?)", (name,))

    def aliased_indices(self) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT index_name FROM search_aliases WHERE alias = ?", (self.alias,)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def swap_alias(self, index: str) -> list[str]:
        with self._transaction(immediate=True) as conn:
            if not conn.execute("SELECT 1 FROM search_indices WHERE name = ?", (index,)).fetchone():
                raise IndexNotFound(
                    f"no such index [{index}]", status=404, kind="index_not_found_exception"
                )
            previous = [
                str(row[0])
                for row in conn.execute(
                    "SELECT index_name FROM search_aliases WHERE alias = ?", (self.alias,)
                )
            ]
            conn.execute(
                "INSERT INTO search_aliases (alias, index_name) VALUES (?, ?) "
                "ON CONFLICT (alias) DO UPDATE SET index_name = excluded.index_name",
                (self.alias, index),
            )
        return previous

    def expunge_deleted(self) -> None:
        with self._connection() as conn:
            # FTS5 keeps replaced rows' tokens in its segments until they are merged.
            conn.execute("INSERT INTO search_text (search_text) VALUES ('optimize')")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def delete_index(self, name: str) -> None:
        with self._transaction(immediate=True) as conn:
            if not conn.execute("SELECT 1 FROM search_indices WHERE name = ?", (name,)).fetchone():
                raise IndexNotFound(
                    f"no such index [{name}]", status=404, kind="index_not_found_exception"
                )
            conn.execute(
                "DELETE FROM search_text WHERE rowid IN "
                "(SELECT rowid FROM search_docs WHERE index_name = ?)",
                (name,),
            )
            conn.execute("DELETE FROM search_docs WHERE index_name = ?", (name,))
            conn.execute("DELETE FROM search_aliases WHERE index_name = ?", (name,))
            conn.execute("DELETE FROM search_indices WHERE name = ?", (name,))
