"""Kinesis and DynamoDB stream sources: every shard in order, checkpointed after success."""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from chalice.app import DynamoDBEventConfig, KinesisEventConfig

from local_aws.event_sources.clients import client_error_code
from local_aws.event_sources.source import Runner
from local_aws.event_sources.stream_delivery import Stopped, StreamDelivery

__all__ = ["StreamSource"]

logger = logging.getLogger(__name__)

# Shards change only when a stream reshards (Kinesis) or rolls its shards over
# (DynamoDB, every few hours): a new shard waits this long at most.
_SHARD_REFRESH_SECONDS = 10.0
# moto (the in-process DynamoDB of the handler tests) replaces a table's stream
# shard object when it rolls back a failed transaction, and an old iterator keeps
# reading the orphaned shard; so a table stream's idle iterator is renewed from
# the checkpoint this often. DynamoDB Local (the local stack's) does not need it;
# it costs one call more per idle poll at most.
_ITERATOR_RENEW_SECONDS = 1.0
_EXPIRED_ITERATOR = {"ExpiredIteratorException", "TrimmedDataAccessException"}


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    start_kind: str = "TRIM_HORIZON"
    initial_iterator: str | None = None
    thread: threading.Thread | None = None
    busy: bool = False
    finished: bool = False
    last_empty_poll: float = -math.inf
    iterator_born: float = 0.0
    window_started: float = -math.inf


class StreamSource(StreamDelivery):
    """Common shard-polling logic for Kinesis and DynamoDB streams."""

    record_source = ""
    # Whether an idle iterator is renewed (_ITERATOR_RENEW_SECONDS): table streams only.
    renews_idle_iterators = False

    def __init__(self, runner: Runner, config: KinesisEventConfig | DynamoDBEventConfig) -> None:
        super().__init__(runner, config.name)
        self.batch_size = max(1, int(config.batch_size))
        self.window = float(config.maximum_batching_window_in_seconds or 0)
        self.starting_position = (config.starting_position or "LATEST").upper()
        self.stream_arn = ""
        self.checkpoint_namespace = ""
        self.shards: dict[str, _Shard] = {}

    # -- backend specific -------------------------------------------------
    @abstractmethod
    def list_shards(self) -> list[tuple[str, str | None]]: ...

    @abstractmethod
    def shard_iterator(
        self, shard_id: str, kind: str, sequence_number: str | None = None
    ) -> str: ...

    @abstractmethod
    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]: ...

    # -- common ---------------------------------------------------------
    def checkpoint_key(self, shard_id: str) -> str:
        return f"{self.name}|{self.checkpoint_namespace}|{shard_id}"

    def prepare(self) -> None:
        # LATEST means "written after the runner started": pin those positions now.
        for shard_id, parent in self.list_shards():
            shard = _Shard(shard_id, parent, start_kind=self.starting_position)
            if self.runner.checkpoints.get(self.checkpoint_key(shard_id)) is None:
                shard.initial_iterator = self.shard_iterator(shard_id, self.starting_position)
            self.shards[shard_id] = shard

    def launch(self) -> None:
        for shard in list(self.shards.values()):
            self._start_shard(shard)
        self.spawn(self._discover_loop, name=f"{self.kind}-shards-{self.name}")

    def _start_shard(self, shard: _Shard) -> None:
        shard.thread = self.spawn(
            self._shard_loop, shard, name=f"{self.kind}-{self.name}-{shard.shard_id}"
        )

    def _discover_loop(self) -> None:
        stop = self.runner.stop_event
        while not stop.wait(_SHARD_REFRESH_SECONDS):
            try:
                listed = self.list_shards()
            except Exception as exc:
                logger.debug("%s: listing shards failed: %r", self.name, exc)
                continue
            for shard_id, parent in listed:
                if shard_id in self.shards:
                    continue
                # A shard that appeared after start(): all of it is "new".
                shard = _Shard(shard_id, parent)
                with self.lock:
                    self.shards[shard_id] = shard
                self._start_shard(shard)

    def _fresh_iterator(self, shard: _Shard) -> str:
        seq = self.runner.checkpoints.get(self.checkpoint_key(shard.shard_id))
        if seq is not None:
            try:
                return self.shard_iterator(shard.shard_id, "AFTER_SEQUENCE_NUMBER", seq)
            except ClientError as exc:
                logger.warning(
                    "%s: checkpoint %s of %s unusable (%s); reading from TRIM_HORIZON",
                    self.name,
                    seq,
                    shard.shard_id,
                    client_error_code(exc),
                )
                return self.shard_iterator(shard.shard_id, "TRIM_HORIZON")
        return self.shard_iterator(shard.shard_id, shard.start_kind)

    @property
    def source_arn(self) -> str:
        return self.stream_arn

    @property
    def idle_poll_seconds(self) -> float:
        return self.runner.idle_poll_seconds

    def _shard_loop(self, shard: _Shard) -> None:
        runner = self.runner
        stop = runner.stop_event
        poll = self.idle_poll_seconds
        # Children of a split/merge wait until their parent is drained (Lambda does too).
        while not stop.is_set():
            parent = self.shards.get(shard.parent_id or "")
            if parent is None or parent.finished:
                break
            stop.wait(poll)
        iterator: str | None = None
        shard.window_started = runner.clock()
        backoff = runner.idle_backoff(poll)
        while not stop.is_set():
            try:
                wakes = runner.wake_count(self.stream_arn)
                if iterator is None:
                    iterator = shard.initial_iterator or self._fresh_iterator(shard)
                    shard.initial_iterator = None
                    shard.iterator_born = time.monotonic()
                poll_started = time.monotonic()
                records, next_iterator = self.get_records(iterator, self.batch_size)
                if not records:
                    if next_iterator is None:
                        shard.finished = True
                        return
                    # Keep the same iterator while idle: moto's DynamoDB streams keep
                    # every iterator they hand out, so fresh ones would leak memory.
                    shard.last_empty_poll = poll_started
                    renewable = self.renews_idle_iterators and (
                        self.runner.checkpoints.get(self.checkpoint_key(shard.shard_id)) is not None
                        or shard.start_kind == "TRIM_HORIZON"
                    )
                    if renewable and poll_started - shard.iterator_born > _ITERATOR_RENEW_SECONDS:
                        iterator = None
                    if runner.pause(backoff.next_pause(), self.stream_arn, wakes):
                        backoff.active()
                    continue
                backoff.active()
                shard.busy = True
                records, next_iterator = self._fill_window(
                    records, next_iterator, shard.window_started
                )
                self._process(shard.shard_id, records)
                # Lambda: the next batching window begins when the invocation completes.
                shard.window_started = runner.clock()
                self.runner.checkpoints.set(
                    self.checkpoint_key(shard.shard_id), self.sequence_of(records[-1])
                )
                shard.busy = False
                if next_iterator is None:
                    shard.finished = True
                    return
                iterator = next_iterator
            except Stopped:
                return
            except Exception as exc:
                shard.busy = False
                code = client_error_code(exc)
                if code in _EXPIRED_ITERATOR:
                    iterator = None
                    continue
                # Keep the iterator (still valid); retry after a pause.
                logger.warning("%s: shard %s poll failed: %r", self.name, shard.shard_id, exc)
                stop.wait(1.0)

    def _fill_window(
        self, records: list[dict[str, Any]], iterator: str | None, window_started: float
    ) -> tuple[list[dict[str, Any]], str | None]:
        runner = self.runner
        deadline = window_started + self.window
        while (
            iterator is not None
            and len(records) < self.batch_size
            and not runner.stop_event.is_set()
        ):
            remaining = deadline - runner.clock()
            if remaining <= 0:
                break
            wakes = runner.wake_count(self.stream_arn)
            more, next_iterator = self.get_records(iterator, self.batch_size - len(records))
            if more:
                records = records + more
                iterator = next_iterator
            elif next_iterator is None:
                return records, None
            else:
                runner.pause(min(0.1, remaining), self.stream_arn, wakes)
        return records, iterator

    def idle_since(self, t_ref: float) -> bool:
        with self.lock:
            shards = list(self.shards.values())
        return all(
            s.finished or (not s.busy and s.last_empty_poll > t_ref and s.thread is not None)
            for s in shards
        )
