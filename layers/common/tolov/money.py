"""Money is an integer number of tiyin (1 sum = 100 tiyin); sum strings are converted exactly."""

import re

TIYIN_PER_SUM = 100

_SUM_TEXT = re.compile(r"(?P<whole>\d+)(?:\.(?P<frac>\d{1,2}))?")


def sum_str_to_tiyin(text: str) -> int:
    """Parse a sum amount such as "1000", "1000.5" or "1000.00" into tiyin, without floats.

    More than two decimals, signs, exponents and anything else raise ValueError: a payment
    amount that cannot be represented in tiyin is not an amount.
    """
    match = _SUM_TEXT.fullmatch(text)
    if match is None:
        raise ValueError("not a sum amount")
    frac = (match.group("frac") or "").ljust(2, "0")
    return int(match.group("whole")) * TIYIN_PER_SUM + int(frac)


def tiyin_to_sum_str(tiyin: int) -> str:
    """Format tiyin as a sum string with exactly two decimals: 1234567 -> "12345.67"."""
    if isinstance(tiyin, bool) or not isinstance(tiyin, int):
        raise TypeError("tiyin must be an int")
    if tiyin < 0:
        raise ValueError("negative amount")
    whole, frac = divmod(tiyin, TIYIN_PER_SUM)
    return f"{whole}.{frac:02d}"
