"""A Firehose sink that indexes the flushed buffers' events into a ``SearchIndex``.

The local stand-in for Firehose's OpenSearch destination: every record is one
CloudEvent JSON line. ``transform`` plays the part of a Firehose
transformation Lambda: it may rewrite an event (e.g. decrypt personal
fields) or drop it by returning None.

Like Firehose, the transform runs first and the destination buffers after
it: with ``buffering_interval_seconds`` the transformed documents wait in a
second buffer (started by its oldest document) before they are indexed. So an
erasure can fall between the transform and the delivery, as it can in AWS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.search import InvalidDocument, SearchIndex, to_document
from chalicelib.adapters.search.documents import parse_ndjson

__all__ = ["SearchIndexSink", "SinkStats", "Transform"]

logger = logging.getLogger(__name__)

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]


@dataclass
class SinkStats:
    """Counters of a sink (events transformed, indexed, dropped by the transform, invalid)."""

    indexed: int = 0
    dropped: int = 0
    invalid: int = 0
    transformed: int = 0


class SearchIndexSink:
    """Callable Firehose sink: ``sink(records)`` transforms the records' events now and
    indexes them (upsert by id) at once, or once the destination buffer is due.

    ``buffering_interval_seconds`` > 0 buffers the transformed documents: call
    ``start()`` to deliver them from a background thread (or ``deliver_due()``
    yourself), and ``stop()`` to deliver the rest. ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        index: SearchIndex,
        transform: Transform | None = None,
        *,
        buffering_interval_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.transform = transform
        self.buffering_interval_seconds = buffering_interval_seconds
        self.stats = SinkStats()
        self._clock = clock
        # Guards the buffer; the delivery thread waits on it for documents, then their due time.
        self._lock = threading.Condition()
        self._buffer: list[dict[str, Any]] = []
        self._buffer_started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, records: list[bytes]) -> None:
        documents = self._transformed(records)
        if self.buffering_interval_seconds <= 0:
            self._deliver(documents)
            return
        with self._lock:
            if documents and not self._buffer:
                self._buffer_started = self._clock()
                self._lock.notify_all()
            self._buffer.extend(documents)

    @property
    def buffered_documents(self) -> int:
        """Transformed documents waiting for their delivery."""
        with self._lock:
            return len(self._buffer)

    def deliver_due(self) -> int:
        """Index the buffer if its oldest document waited the interval; documents indexed."""
        with self._lock:
            due = self._buffer and (
                self._clock() - self._buffer_started >= self.buffering_interval_seconds
            )
            documents, self._buffer = (self._buffer, []) if due else ([], self._buffer)
        return self._deliver_or_keep(documents)

    def flush(self) -> int:
        """Index whatever is buffered now; documents indexed."""
        with self._lock:
            documents, self._buffer = self._buffer, []
        return self._deliver_or_keep(documents)

    def _deliver_or_keep(self, documents: list[dict[str, Any]]) -> int:
        try:
            return self._deliver(documents)
        except Exception:
            # Firehose retries a failed delivery: keep the documents, oldest first.
            with self._lock:
                if not self._buffer:
                    self._buffer_started = self._clock()
                self._buffer[:0] = documents
            raise

    def start(self) -> None:
        """Deliver due buffers from a background thread."""
        if self._thread is not None:
            raise RuntimeError("SearchIndexSink already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="search-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background thread, then deliver what is buffered."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while self._wait_until_due():
            try:
                self.deliver_due()
            except Exception as exc:
                logger.warning("search sink: delivery failed: %r", exc)
                # Firehose retries a failed delivery; not at once.
                self._stop.wait(1.0)

    def _wait_until_due(self) -> bool:
        """Sleep until something is buffered and its time has come; False once stopping."""
        with self._lock:
            while not self._stop.is_set():
                if self._buffer:
                    due_in = self._buffer_started + self.buffering_interval_seconds - self._clock()
                    if due_in <= 0:
                        return True
                    self._lock.wait(due_in)
                else:
                    self._lock.wait()
            return False

    def _transformed(self, records: list[bytes]) -> list[dict[str, Any]]:
        documents = []
        invalid = 0
        for event in parse_ndjson(records):
            if event is None:
                invalid += 1
                continue
            transformed = self.transform(event) if self.transform else event
            if transformed is None:
                self.stats.dropped += 1
                continue
            try:
                to_document(transformed)
            except InvalidDocument as exc:
                # Firehose would send these to its error prefix; they must not block the rest.
                invalid += 1
                logger.warning("search sink: skipping event %r: %s", event.get("id"), exc)
                continue
            documents.append(transformed)
        self.stats.invalid += invalid
        self.stats.transformed += len(documents)
        return documents

    def _deliver(self, documents: list[dict[str, Any]]) -> int:
        if not documents:
            return 0
        indexed = self.index.index_events(documents)
        self.stats.indexed += indexed
        return indexed
