"""Stream checkpoints: the last processed sequence number of every shard."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

__all__ = ["CheckpointStore"]

logger = logging.getLogger(__name__)


class CheckpointStore:
    """Sequence-number checkpoints by key, in memory and optionally in a JSON file.

    The file is rewritten atomically on every change, so a restart resumes.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if self._path is not None and self._path.exists():
            try:
                loaded = json.loads(self._path.read_text(encoding="utf-8") or "{}")
                self._data = {str(k): str(v) for k, v in loaded.items()}
            except (OSError, ValueError) as exc:
                logger.warning("ignoring unreadable checkpoint file %s: %s", self._path, exc)

    def get(self, key: str) -> str | None:
        """The checkpointed sequence number for ``key``, if any."""
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, sequence_number: str) -> None:
        """Record ``sequence_number`` for ``key`` (and persist it)."""
        with self._lock:
            self._data[key] = sequence_number
            if self._path is not None:
                self._write()

    def snapshot(self) -> dict[str, str]:
        """A copy of all checkpoints."""
        with self._lock:
            return dict(self._data)

    def _write(self) -> None:
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=self._path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
