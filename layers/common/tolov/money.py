"""Exact money conversions between integer tiyin and so'm ("sum") decimal strings.

1 so'm = 100 tiyin. Amounts are kept as integer tiyin everywhere inside tolov; these helpers
convert at the edges (Click's APIs speak so'm with up to two decimals). No binary float is
ever involved.
"""

import re

__all__ = ["sum_str_to_tiyin", "tiyin_to_sum_str"]

# ASCII digits only (str.isdigit() and \d would also accept e.g. Arabic-Indic digits).
_SUM_RE = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")


def tiyin_to_sum_str(tiyin: int) -> str:
    """Format a non-negative integer tiyin amount as so'm with exactly two decimals.

    >>> tiyin_to_sum_str(1234567)
    '12345.67'
    """
    if isinstance(tiyin, bool) or not isinstance(tiyin, int):
        raise TypeError(f"tiyin must be an int, not {type(tiyin).__name__}")
    if tiyin < 0:
        raise ValueError("tiyin must not be negative")
    whole, cents = divmod(tiyin, 100)
    return f"{whole}.{cents:02d}"


def sum_str_to_tiyin(text: str) -> int:
    """Parse a so'm amount such as "1000", "1000.5" or "1000.00" into integer tiyin.

    Rejects (ValueError) signs, exponents, whitespace, more than two decimals, a bare or
    trailing dot, and anything that is not plain ASCII digits.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    match = _SUM_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a so'm amount with at most two decimals: {text[:32]!r}")
    whole, fraction = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(fraction.ljust(2, "0"))
