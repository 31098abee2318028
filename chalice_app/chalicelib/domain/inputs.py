"""Input value rules shared by request bodies and query parameters.

- Free text (names, addresses, ids a client chooses) is NFC-normalised and
  may hold no control characters (C0, DEL, C1: NUL, CR/LF, ANSI escapes) and
  no bidirectional formatting characters (overrides, embeddings, isolates,
  marks), which can make stored text display as something else.
- Instants (``at``, ``from``, ``to``) are ISO-8601 dates or date-times
  (``INSTANT_PATTERN``) written in the years 1970 to 9999; a time without an
  offset is UTC. An offset that moves one past 1970..9999 UTC reads as that
  edge (no event lies beyond it).

Each rule raises ``ValueError`` with a message in words; the HTTP layer adds
the field name. Each rule is also stated as a JSON Schema ``pattern``
(``TEXT_PATTERN``, ``INSTANT_PATTERN``), which the OpenAPI document
publishes; tests check a pattern and its rule accept the same values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from chalicelib.domain.exceptions import PayloadTooLarge, ValidationFailed
from chalicelib.domain.json_body import MAX_BODY_BYTES, BodyError, decode_object

__all__ = [
    "BLANK_PATTERN",
    "INSTANT_PATTERN",
    "INSTANT_RULE",
    "MAX_INSTANT",
    "MIN_INSTANT",
    "NON_BLANK_TEXT_PATTERN",
    "TEXT_PATTERN",
    "TEXT_RULE",
    "AddressLine",
    "AddressPart",
    "ClientId",
    "Currency",
    "Name",
    "check_currency",
    "check_text",
    "clean_text",
    "dict_schema",
    "is_blank",
    "parse_body",
    "parse_instant",
    "validation_details",
]

ModelT = TypeVar("ModelT", bound=BaseModel)
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
# Character classes in the syntax JSON Schema (ECMA-262) and Python's re share.
_CONTROL_CHARS = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
_BIDI_CHARS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# What str.strip() removes (str.isspace), outside the control characters.
_SPACE_CHARS = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
# Text str.strip() leaves empty: blank (str.isspace, control characters included).
BLANK_PATTERN = rf"^[\u0009-\u000d\u001c-\u001f\u0085\u2028\u2029{_SPACE_CHARS}]*$"
_BLANK = re.compile(BLANK_PATTERN[1:-1])
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
_BIDI = re.compile(f"[{_BIDI_CHARS}]")
_SAFE = f"[^{_CONTROL_CHARS}{_BIDI_CHARS}]"
# check_text as a pattern; and with at least one character that is not a space
# (text that is trimmed, then must not be empty).
TEXT_PATTERN = f"^{_SAFE}*$"
NON_BLANK_TEXT_PATTERN = f"^{_SAFE}*[^{_CONTROL_CHARS}{_BIDI_CHARS}{_SPACE_CHARS}]{_SAFE}*$"

# A calendar date of 1970..9999 (leap days included), an optional time (hours
# and minutes, optional seconds and up to 6 decimals) after T or a space, and
# an optional offset after the time. Everything parse_instant reads, and only that.
_YEAR = r"(?:19[7-9][0-9]|[2-9][0-9]{3})"
_LEAP_YEAR = (
    r"(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])"
    r"|(?:[2468][048]|[3579][26])00)"
)
_DATE = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)"
)
_TIME = r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_PATTERN = f"^{_DATE}(?:{_TIME}{_OFFSET}?)?$"
_INSTANT = re.compile(INSTANT_PATTERN[1:-1])
INSTANT_RULE = (
    "must be an ISO-8601 date or date-time in the years 1970 to 9999, such as 2026-11-27T10:00:00Z"
)


def check_text(value: str) -> str:
    """``value`` unchanged; ValueError if it holds a control or bidi formatting character."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (such as NUL, CR, LF or ESC)")
    if _BIDI.search(value):
        raise ValueError("must not contain bidirectional formatting characters")
    return value


def is_blank(value: str) -> bool:
    """True if ``value`` is empty or only white space (``BLANK_PATTERN``)."""
    return _BLANK.fullmatch(value) is not None


def clean_text(value: str) -> str:
    """``value`` in Unicode NFC after ``check_text``."""
    return unicodedata.normalize("NFC", check_text(value))


TEXT_RULE = (
    "NFC-normalised; no control characters (NUL, CR, LF, ESC, ...) "
    "and no bidirectional formatting characters."
)
_TEXT = Field(description=TEXT_RULE, json_schema_extra={"pattern": TEXT_PATTERN})
# Trimmed, then not empty: some character is not a space.
_NON_BLANK_TEXT = Field(
    description=TEXT_RULE + " Trimmed of spaces; not blank.",
    json_schema_extra={"pattern": NON_BLANK_TEXT_PATTERN},
)

# Person names, an address on one line, one part of a structured address, and
# the ids a client chooses (order ids, account owners).
Name = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(clean_text),
    _NON_BLANK_TEXT,
]
AddressLine = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(clean_text),
    _NON_BLANK_TEXT,
]
AddressPart = Annotated[
    str, StringConstraints(strict=True, max_length=200), AfterValidator(clean_text), _TEXT
]
ClientId = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(clean_text),
    _NON_BLANK_TEXT,
]


def dict_schema(keys: Any, values: Any) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of a ``dict[keys, values]`` whose keys are constrained.

    pydantic states such keys as ``patternProperties``, which lets every other
    key through and drops their length; the API refuses those keys, so the
    schema names them with ``propertyNames`` and ``values`` for every key.
    """

    def rewrite(schema: dict[str, Any]) -> None:
        schema.pop("patternProperties", None)
        schema["propertyNames"] = TypeAdapter(keys).json_schema()
        schema["additionalProperties"] = TypeAdapter(values).json_schema()

    return rewrite


_CURRENCY = re.compile(r"[A-Z]{3}")


def check_currency(value: str) -> str:
    """``value`` if it is three capital ASCII letters (an ISO 4217 code); ValueError otherwise."""
    if not _CURRENCY.fullmatch(value):
        raise ValueError("must be a three-letter ISO 4217 currency code in capitals, such as EUR")
    return value


Currency = Annotated[
    str,
    Strict(),
    AfterValidator(check_currency),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "An ISO 4217 currency code in capitals.",
            "examples": ["EUR"],
        }
    ),
]


def parse_instant(value: str) -> datetime:
    """An aware UTC datetime from ``INSTANT_PATTERN`` text; ValueError otherwise.

    Read as UTC without an offset; an instant an offset moves outside
    1970..9999 UTC is that edge (``MIN_INSTANT``/``MAX_INSTANT``).
    """
    if not _INSTANT.fullmatch(value):
        raise ValueError(INSTANT_RULE)
    parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:00:00-05:00 is past the last instant datetime holds.
        return MAX_INSTANT
    return min(max(parsed, MIN_INSTANT), MAX_INSTANT)


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "value_error":
        return str(ctx["error"]) if "error" in ctx else str(error["msg"])
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    templates = {
        "missing": "is required",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "list_type": "must be an array",
        "extra_forbidden": "is not an allowed field",
        "string_too_short": "must have at least {min_length} characters",
        "string_too_long": "must have at most {max_length} characters",
        "too_short": "must have at least {min_length} entries",
        "too_long": "must have at most {max_length} entries",
        "greater_than_equal": "must be at least {ge}",
        "less_than_equal": "must be at most {le}",
        "greater_than": "must be greater than {gt}",
        "less_than": "must be less than {lt}",
    }
    template = templates.get(kind)
    return template.format(**ctx) if template else "is not valid"


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per problem, in words (no pydantic type names).

    ``field`` is the dotted path of the value; a problem with an object key
    says so in the message.
    """
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        # Union branches and validator chains add internal labels to the path.
        parts = [str(p)[:64] for p in error["loc"] if not _internal(p)]
        message = _message(error)
        if "[key]" in error["loc"]:
            message = f"the key {message}"
        details.append({"field": ".".join(parts) or "body", "message": message})
    return details


def _internal(part: Any) -> bool:
    return isinstance(part, str) and (part == "[key]" or part in UNION_TAGS or "[" in part)


# Tags of tagged unions (``Tag``) in request models: not part of a field's path.
UNION_TAGS = frozenset({"text", "parts"})


def parse_body(raw_body: bytes | str | None, model: type[ModelT]) -> ModelT:
    """Decode a JSON object body (json_body) and validate it with ``model``.

    PayloadTooLarge over MAX_BODY_BYTES, ValidationFailed (400, details in
    words) on anything else.
    """
    if raw_body is not None and len(raw_body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body exceeds {MAX_BODY_BYTES} bytes",
            details=[{"field": "body", "message": f"must be at most {MAX_BODY_BYTES} bytes"}],
        )
    try:
        data = decode_object(raw_body)
    except BodyError as exc:
        raise ValidationFailed(
            "the request body is not a valid JSON object",
            details=[{"field": "body", "message": str(exc)}],
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "request validation failed", details=validation_details(exc)
        ) from None
