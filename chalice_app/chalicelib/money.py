"""Money: decimals with two places, written as strings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["CENT", "Money", "PositiveAmount", "format_money", "parse_amount"]

CENT = Decimal("0.01")
# DynamoDB numbers hold 38 digits; far above any real balance.
MAX_AMOUNT = Decimal("1000000000000")


def format_money(value: Decimal) -> str:
    """``Decimal('12.5')`` -> ``'12.50'``."""
    return f"{value.quantize(CENT):f}"


def parse_amount(value: Any) -> Decimal:
    """Validate a request amount: a JSON number or string, > 0, at most 2 decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("must be a number or a decimal string")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError("must be a number or a decimal string") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(CENT):  # type: ignore[operator]
        raise ValueError("must have at most 2 decimal places")
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
    Decimal, BeforeValidator(parse_amount), PlainSerializer(format_money, return_type=str)
]
