"""Input rules as pure functions: body decoding, amounts, free text, instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.inputs import (
    BLANK_PATTERN,
    INSTANT_PATTERN,
    MAX_INSTANT,
    MIN_INSTANT,
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
    check_text,
    clean_text,
    is_blank,
    parse_instant,
)
from chalicelib.domain.json_body import MAX_BODY_BYTES, BodyError, decode_object
from chalicelib.domain.money import AMOUNT_PATTERN, MAX_AMOUNT, parse_amount


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
    "value",
    [
        "1_000",
        "١٢٣",
        "\uff11\uff12",
        "1.000",
        Decimal("1.000"),
        "1e3",
        True,
        0,
        -1,
        "0.00",
        "0",
        Decimal("5e-324"),
        Decimal("0.001"),
    ],
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
        ("2028-02-29", datetime(2028, 2, 29, tzinfo=UTC)),
        ("2026-11-27 10:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27t10:00:00.5z", datetime(2026, 11, 27, 10, 0, 0, 500000, tzinfo=UTC)),
        # An offset moving the written time past an edge reads as that edge.
        ("9999-12-31T23:59:59-23:59", MAX_INSTANT),
        ("1970-01-01T00:00:00+01:00", MIN_INSTANT),
    ],
)
def test_instants_inside_1970_9999_are_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0999-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "1969-12-31T23:59:59.999999Z",
        "",
        "soon",
        "2026-11-27T10:00:00Z\x00anything",  # datetime.fromisoformat stops at a NUL
        " 2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00Z\n",
        "2026-02-29",
        "2026-11-27T10:00:00.1234567Z",
        "20261127T100000Z",
        "2026-W48-5",
    ],
)
def test_instants_outside_the_range_or_not_instants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO-8601|between 1970"):
        parse_instant(text)


# Each rule is published as a JSON Schema pattern (openapi.json): the pattern
# and the rule must accept the same values, or the contract says something else.


def _matches(pattern: str, value: str) -> bool:
    # JSON Schema patterns are anchored with ^...$; Python's $ also matches before
    # a final newline, which ECMA-262's does not: fullmatch the body instead.
    assert pattern.startswith("^") and pattern.endswith("$")
    return re.fullmatch(pattern[1:-1], value) is not None


def _text_rule_accepts(value: str) -> bool:
    try:
        check_text(value)
    except ValueError:
        return False
    return True


# Every rule's special character is below U+3100; a sample of the rest beyond.
_CHARACTERS = [*range(0x3100), *range(0x3100, 0x110000, 97)]


def test_the_text_patterns_are_the_text_rule_for_every_character() -> None:
    for code in _CHARACTERS:
        char = chr(code)
        accepted = _text_rule_accepts(char)
        assert _matches(TEXT_PATTERN, char) == accepted, hex(code)
        non_blank = accepted and char.strip() != ""
        assert _matches(NON_BLANK_TEXT_PATTERN, char) == non_blank, hex(code)
        assert is_blank(char) == _matches(BLANK_PATTERN, char) == (char.strip() == ""), hex(code)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=8))
def test_the_text_patterns_are_the_text_rule_for_any_text(text: str) -> None:
    assert _matches(TEXT_PATTERN, text) == _text_rule_accepts(text)
    assert _matches(NON_BLANK_TEXT_PATTERN, text) == (
        _text_rule_accepts(text) and text.strip() != ""
    )


@settings(max_examples=100, deadline=None)
@given(st.from_regex(INSTANT_PATTERN[1:-1], fullmatch=True))
def test_every_instant_the_pattern_admits_is_read(text: str) -> None:
    assert MIN_INSTANT <= parse_instant(text) <= MAX_INSTANT


@settings(max_examples=100, deadline=None)
@given(st.dates().map(lambda day: day.isoformat()))
def test_a_date_is_admitted_by_the_pattern_exactly_when_its_year_is_1970_to_9999(
    text: str,
) -> None:
    assert _matches(INSTANT_PATTERN, text) == (text >= "1970")


def test_the_instant_pattern_knows_leap_days() -> None:
    for year in range(1970, 10000):
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        assert _matches(INSTANT_PATTERN, f"{year:04d}-02-29") == leap, year


def _amount_accepted(value: object) -> bool:
    try:
        parse_amount(value)
    except ValueError:
        return False
    return True


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[0-9]{1,14}(\.[0-9]{1,3})?", fullmatch=True) | st.text(max_size=6))
def test_the_amount_pattern_is_the_rule_for_strings(text: str) -> None:
    assert _matches(AMOUNT_PATTERN, text) == _amount_accepted(text)


@settings(max_examples=100, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=2) | st.integers())
def test_a_number_is_accepted_when_the_number_schema_admits_it(number: Decimal | int) -> None:
    # The schema: number, exclusiveMinimum 0, maximum MAX_AMOUNT, multipleOf 0.01
    # (a number of at most 2 decimals, as the body decoder keeps them).
    admitted = 0 < number <= Decimal(str(MAX_AMOUNT))
    assert _amount_accepted(number) == admitted
