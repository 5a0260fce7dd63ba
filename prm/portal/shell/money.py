"""Money on pages: integer minor units shown as "48,000.00 USD", and typed amounts read back exactly.

Amounts are parsed with Decimal and checked to fit the currency's minor unit, so nothing ever
passes through a float. The exponent follows ISO 4217 (most currencies have two decimals).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()  # noqa: SIM905 - a code list
)
THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
MAX_MINOR = 10**15  # the schemas' MinorUnits bound
# "48000", "48000.5", "48,000.00": commas only as thousands separators in groups of three.
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


class AmountError(ValueError):
    """A typed amount that cannot be an amount of this currency; the text says why."""


def minor_digits(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def format_minor(amount_minor: int | None, currency: str, *, code: bool = True) -> str:
    """12345600 USD -> "123,456.00 USD"; None -> "—"."""
    if amount_minor is None:
        return "—"
    digits = minor_digits(currency)
    value = Decimal(amount_minor).scaleb(-digits)
    text = f"{value:,.{digits}f}"
    return f"{text} {currency}" if code else text


def plain_amount(amount_minor: int | None, currency: str) -> str:
    """The value to put back into an amount input: "48000.00" (no separators, no code)."""
    if amount_minor is None:
        return ""
    digits = minor_digits(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f}"


def parse_amount(text: str, currency: str) -> int:
    """ "48,000.00" in USD -> 4800000 minor units, exactly; AmountError says what is wrong."""
    cleaned = text.strip().replace(" ", "")
    example = format_minor(48_000 * 10 ** minor_digits(currency), currency, code=False)
    if not _AMOUNT.match(cleaned):
        raise AmountError(f"Enter an amount like {example}, with digits and a decimal point.")
    digits = minor_digits(currency)
    try:
        value = Decimal(cleaned.replace(",", "")).scaleb(digits)
    except InvalidOperation as exc:  # the pattern already rules this out; kept for safety
        raise AmountError(f"Enter an amount like {example}.") from exc
    if value != value.to_integral_value():
        places = "no decimals" if digits == 0 else f"at most {digits} decimals"
        raise AmountError(f"{currency} amounts have {places}.")
    minor = int(value)
    if minor > MAX_MINOR:
        raise AmountError("That amount is too large.")
    return minor


def format_bps(bps: int | None) -> str:
    """Basis points as a percentage, exactly: 250 -> "2.50%"."""
    if bps is None:
        return "—"
    return f"{Decimal(bps).scaleb(-2):.2f}%"
