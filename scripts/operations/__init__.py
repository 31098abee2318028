"""What ``scripts/ops.py`` does: failure queues, redrive, and tracing one event."""

from __future__ import annotations

__all__: list[str] = []
