"""Input rules as pure functions: body decoding, amounts, free text, instants."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.inputs import clean_text, parse_instant
from chalicelib.json_body import MAX_BODY_BYTES, BodyError, decode_object
from chalicelib.money import parse_amount


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": 1, "a": 1}', "more than once"),
        (b'{"a": NaN}', "not a JSON number"),
        (b'{"a": 1' + b"0" * 50 + b"}", "at most 40 characters"),
        (b'{"a": "\\udfff"}', "lone surrogates"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"", "is required"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", "exceeds"),
    ],
)
def test_bodies_outside_the_rules_are_refused_in_words(raw: bytes, reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        decode_object(raw)


def test_numbers_keep_the_digits_the_client_wrote() -> None:
    assert decode_object(b'{"a": 1.50, "b": 7}') == {"a": Decimal("1.50"), "b": 7}
    assert str(decode_object(b'{"a": 1.000}')["a"]) == "1.000"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.5", "12.50"), (7, "7.00"), (Decimal("0.01"), "0.01"), ("999999999999.99", None)],
)
def test_amounts_inside_the_rule(value: object, expected: str | None) -> None:
    amount = parse_amount(value)
    assert f"{amount:f}" == (expected or str(value))


@pytest.mark.parametrize(
    "value", ["1_000", "١٢٣", "\uff11\uff12", "1.000", Decimal("1.000"), "1e3", True, 0, -1, "0.00"]
)
def test_amounts_outside_the_rule(value: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(value)


def test_free_text_is_nfc_and_refuses_control_and_bidi_characters() -> None:
    assert clean_text("Rene\u0301") == "Ren\u00e9"
    for bad in ("a\x00", "a\x1b[0m", "a\r\n", "a\x85", "a\u202e", "a\u2067", "a\u200f"):
        with pytest.raises(ValueError):
            clean_text(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T11:00:00+01:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_instants_inside_1970_9999_are_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0999-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        "1969-12-31T23:59:59.999999Z",
        "",
        "soon",
        "2026-11-27T10:00:00Z\x00anything",  # datetime.fromisoformat stops at a NUL
    ],
)
def test_instants_outside_the_range_or_not_instants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO-8601|between 1970"):
        parse_instant(text)
