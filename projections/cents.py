"""Money as integer cents: the hot paths add ints, never Decimals."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from projections.errors import ProjectionError

__all__ = ["cents_to_decimal", "format_cents", "to_cents"]

_HUNDRED = Decimal(100)


def to_cents(amount: str | int | float | Decimal | None) -> int:
    """``"12.50"`` -> ``1250``; any exact decimal with at most 2 places."""
    if isinstance(amount, str) and len(amount) > 3 and amount[-3] == "." and amount[0] != "-":
        # The contract writes money with exactly 2 places, so this is the common case.
        try:
            return int(amount.replace(".", "", 1))
        except ValueError:
            pass
    if amount is None or isinstance(amount, bool):
        raise ProjectionError(f"not a money amount: {amount!r}")
    try:
        scaled = Decimal(str(amount)) * _HUNDRED
    except InvalidOperation:
        raise ProjectionError(f"not a money amount: {amount!r}") from None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ProjectionError(f"not a money amount with at most 2 decimals: {amount!r}")
    return int(scaled)


def cents_to_decimal(cents: int) -> Decimal:
    """``1250`` -> ``Decimal('12.50')``."""
    return Decimal(cents).scaleb(-2)


def format_cents(cents: int) -> str:
    """``1250`` -> ``'12.50'``; ``5`` -> ``'0.05'``."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
