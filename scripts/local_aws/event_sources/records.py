"""Conversions of what boto3 returns to the shapes of Lambda events."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["epoch", "image_to_lambda", "iso_millis"]


def epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def iso_millis(value: Any) -> str:
    dt = datetime.fromtimestamp(epoch(value), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _attribute_value_to_lambda(value: Any) -> Any:
    """DynamoDB JSON from boto3 (binary as bytes) to the stream-event form (base64)."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for kind, inner in value.items():
        if kind == "B" and isinstance(inner, bytes | bytearray):
            out[kind] = base64.b64encode(inner).decode("ascii")
        elif kind == "BS":
            out[kind] = [
                base64.b64encode(b).decode("ascii") if isinstance(b, bytes | bytearray) else b
                for b in inner
            ]
        elif kind == "M":
            out[kind] = {k: _attribute_value_to_lambda(v) for k, v in inner.items()}
        elif kind == "L":
            out[kind] = [_attribute_value_to_lambda(v) for v in inner]
        else:
            out[kind] = inner
    return out


def image_to_lambda(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {k: _attribute_value_to_lambda(v) for k, v in image.items()}
