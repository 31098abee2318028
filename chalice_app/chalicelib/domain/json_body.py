"""Strict decoding of a JSON request body into a Python object.

orjson (used for responses) cannot report duplicate keys and reads numbers
as floats, so a body is decoded once with the standard library's C scanner
and hooks: duplicate keys, NaN/Infinity and over-long numbers are refused,
and numbers with a fraction or exponent become ``Decimal`` with the digits
the client wrote (so ``1.000`` is not silently ``1.0``). Every refusal is a
``BodyError`` whose message is in words, never the parser's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = ["MAX_BODY_BYTES", "MAX_NUMBER_LENGTH", "BodyError", "decode_object"]

MAX_BODY_BYTES = 64 * 1024
# No amount or count this API takes needs more digits.
MAX_NUMBER_LENGTH = 40


class BodyError(ValueError):
    """A body that is not a single well-formed JSON object; ``str()`` says why, in words."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BodyError(f"the key {key[:64]!r} appears more than once in one object")
        result[key] = value
    return result


def _number(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_LENGTH:
        raise BodyError(f"numbers may have at most {MAX_NUMBER_LENGTH} characters")
    return Decimal(text)


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise BodyError(f"numbers may have at most {MAX_NUMBER_LENGTH} characters")
    return int(text)


def _constant(name: str) -> Any:
    raise BodyError(f"{name} is not a JSON number")


def _check_strings(value: Any) -> None:
    # json accepts lone surrogate escapes ("\ud800"), which are not text and
    # cannot be stored or written back as UTF-8.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BodyError("strings must be valid Unicode (no lone surrogates)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_float=_number, parse_int=_integer, parse_constant=_constant
)


def decode_object(raw: bytes | str | None) -> dict[str, Any]:
    """The JSON object in ``raw`` (UTF-8, at most MAX_BODY_BYTES); BodyError otherwise."""
    if raw is None or len(raw) == 0:
        raise BodyError("a JSON object is required")
    if len(raw) > MAX_BODY_BYTES:
        raise BodyError(f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8 text") from None
    try:
        data = _DECODER.decode(text)
    except BodyError:
        raise
    except (ValueError, RecursionError):
        raise BodyError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BodyError("the body must be a JSON object")
    _check_strings(data)
    return data
