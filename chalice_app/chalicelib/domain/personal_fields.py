"""What a personal field holds in every stored copy: sealed text, or REDACTED once erased.

Kept apart from personal_data.py (which seals and opens them with
cryptography) so that code recognising the forms imports no cryptography.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REDACTED", "SEALED_PREFIX", "is_sealed"]

REDACTED = "[erased]"
SEALED_PREFIX = "pii:v1:"


def is_sealed(value: Any) -> bool:
    """Whether ``value`` is a sealed personal field."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)
