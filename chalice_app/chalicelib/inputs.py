"""Input value rules shared by request bodies and query parameters.

- Free text (names, addresses, ids a client chooses) is NFC-normalised and
  may hold no control characters (C0, DEL, C1: NUL, CR/LF, ANSI escapes) and
  no bidirectional formatting characters (overrides, embeddings, isolates,
  marks), which can make stored text display as something else.
- Instants (``at``, ``from``, ``to``) are ISO-8601 date-times between
  1970-01-01 and 9999-12-31 UTC; a time without an offset is UTC.

Each rule raises ``ValueError`` with a message in words; the HTTP layer adds
the field name.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from chalicelib.exceptions import PayloadTooLarge, ValidationFailed
from chalicelib.json_body import MAX_BODY_BYTES, BodyError, decode_object

__all__ = [
    "MAX_INSTANT",
    "MIN_INSTANT",
    "TEXT_RULE",
    "AddressLine",
    "AddressPart",
    "ClientId",
    "Currency",
    "Name",
    "check_currency",
    "check_text",
    "clean_text",
    "parse_body",
    "parse_instant",
    "validation_details",
]

ModelT = TypeVar("ModelT", bound=BaseModel)
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
# The longest ISO-8601 spelling fromisoformat reads is well under this.
MAX_INSTANT_LENGTH = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_text(value: str) -> str:
    """``value`` unchanged; ValueError if it holds a control or bidi formatting character."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (such as NUL, CR, LF or ESC)")
    if _BIDI.search(value):
        raise ValueError("must not contain bidirectional formatting characters")
    return value


def clean_text(value: str) -> str:
    """``value`` in Unicode NFC after ``check_text``."""
    return unicodedata.normalize("NFC", check_text(value))


TEXT_RULE = (
    "NFC-normalised; no control characters (NUL, CR, LF, ESC, ...) "
    "and no bidirectional formatting characters."
)
_TEXT = Field(description=TEXT_RULE)

# Person names, an address on one line, one part of a structured address, and
# the ids a client chooses (order ids, account owners).
Name = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(clean_text),
    _TEXT,
]
AddressLine = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(clean_text),
    _TEXT,
]
AddressPart = Annotated[
    str, StringConstraints(strict=True, max_length=200), AfterValidator(clean_text), _TEXT
]
ClientId = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(clean_text),
    _TEXT,
]

_INSTANT_CHARS = re.compile(r"[0-9T:+\-.,Z ]+")
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
    """An aware UTC datetime from ISO-8601 text within 1970..9999 UTC; ValueError otherwise."""
    text = value.strip().replace("z", "Z").replace("t", "T")
    # fromisoformat stops reading at a NUL; only the characters of ISO-8601 may pass.
    if len(text) > MAX_INSTANT_LENGTH or not _INSTANT_CHARS.fullmatch(text):
        raise ValueError("must be an ISO-8601 date-time such as 2026-11-27T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time such as 2026-11-27T10:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # Extreme offsets (0001-01-01T00:00:00+23:59) overflow when converted to UTC.
        in_range = MIN_INSTANT <= parsed <= MAX_INSTANT
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        in_range = False
    if not in_range:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
    return parsed


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
