"""Schemathesis hooks of the e2e fuzz run (loaded through ``SCHEMATHESIS_HOOKS``).

A fuzzer that sends one Idempotency-Key with different bodies only finds the
documented 422 ``idempotency_key_reused``; every request gets its own key.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

from chalicelib.adapters.idempotency import MAX_KEY_LENGTH

HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A fresh Idempotency-Key for a request that carries a well-formed one.

    A malformed key (empty, too long) is left as generated: the API must refuse it.
    """
    headers = case.headers
    if not headers:
        return
    key = headers.get(HEADER)
    if isinstance(key, str) and 1 <= len(key) <= MAX_KEY_LENGTH:
        headers[HEADER] = uuid.uuid4().hex
