"""Money: decimals with two places, written as strings."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "AMOUNT_PATTERN",
    "AMOUNT_RULE",
    "CENT",
    "MAX_AMOUNT",
    "Money",
    "PositiveAmount",
    "format_money",
    "parse_amount",
]

CENT = Decimal("0.01")
# DynamoDB numbers hold 38 digits; far above any real balance.
MAX_INTEGER_DIGITS = 12
MAX_AMOUNT = float(10**MAX_INTEGER_DIGITS - CENT)
# The shape of a decimal string; parse_amount then checks its value.
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
# The strings parse_amount accepts, as one JSON Schema pattern: > 0, at most
# MAX_INTEGER_DIGITS significant digits before the point and 2 after.
AMOUNT_PATTERN = (
    rf"^0*(?:[1-9][0-9]{{0,{MAX_INTEGER_DIGITS - 1}}}(?:\.[0-9]{{1,2}})?"
    r"|0\.(?:0[1-9]|[1-9][0-9]?))$"
)
AMOUNT_RULE = (
    'must be a number or a decimal string such as "12.50": ASCII digits, greater than 0, '
    f"at most {MAX_INTEGER_DIGITS} digits before the point and 2 after"
)


def format_money(value: Decimal) -> str:
    """``Decimal('12.5')`` -> ``'12.50'``."""
    return f"{value.quantize(CENT):f}"


def parse_amount(value: Any) -> Decimal:
    """Validate a request amount (``AMOUNT_RULE``); ValueError in words otherwise.

    A string is ASCII digits with at most 2 decimals (the strings accepted
    are exactly ``AMOUNT_PATTERN``); a JSON number (int, or Decimal as the
    body decoder reads it, keeping its digits) must be written with at most 2
    decimals, so ``1.000`` is refused like the string ``"1.000"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(AMOUNT_RULE)
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError(AMOUNT_RULE)
        amount = Decimal(value)
    else:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if not amount.is_finite():
            raise ValueError(AMOUNT_RULE)
        if int(amount.as_tuple().exponent) < -2:
            raise ValueError("must have at most 2 decimal places")
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"must have at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    return amount.quantize(CENT)


def _to_decimal(value: Any) -> Any:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            return Decimal(str(value)).quantize(CENT)
        except InvalidOperation:
            return value
    return value


Money = Annotated[
    Decimal, BeforeValidator(_to_decimal), PlainSerializer(format_money, return_type=str)
]
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema(
        {
            "description": AMOUNT_RULE,
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                # A number written with at most 2 decimals is a multiple of 0.01.
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_AMOUNT,
                    "multipleOf": 0.01,
                },
            ],
            "examples": ["12.50", 100],
        },
        mode="validation",
    ),
]
