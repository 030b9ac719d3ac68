from decimal import Decimal

import pytest

from tolov.money import sum_str_to_tiyin, tiyin_to_sum_str


@pytest.mark.parametrize(
    ("tiyin", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (101, "1.01"),
        (1234567, "12345.67"),
        (100000, "1000.00"),
        # far beyond float's 2**53 exact range: still exact
        (123456789012345678901, "1234567890123456789.01"),
    ],
)
def test_tiyin_to_sum_str(tiyin: int, text: str) -> None:
    assert tiyin_to_sum_str(tiyin) == text
    assert sum_str_to_tiyin(text) == tiyin


@pytest.mark.parametrize("bad", [1.5, 100.0, Decimal("1.00"), "100", True, None])
def test_tiyin_to_sum_str_rejects_non_int(bad: object) -> None:
    with pytest.raises(TypeError):
        tiyin_to_sum_str(bad)  # type: ignore[arg-type]


def test_tiyin_to_sum_str_rejects_negative() -> None:
    with pytest.raises(ValueError):
        tiyin_to_sum_str(-1)


@pytest.mark.parametrize(
    ("text", "tiyin"),
    [
        ("0", 0),
        ("1000", 100000),
        ("1000.5", 100050),
        ("1000.50", 100050),
        ("1000.00", 100000),
        ("1000.05", 100005),
        ("0.01", 1),
        ("12345.67", 1234567),
        ("007", 700),
        ("9007199254740993", 900719925474099300),
    ],
)
def test_sum_str_to_tiyin(text: str, tiyin: int) -> None:
    assert sum_str_to_tiyin(text) == tiyin


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "1000.001",
        "0.005",
        "-1",
        "-0.01",
        "+1",
        "1e3",
        "1E3",
        "1.5e2",
        "1000.",
        ".5",
        "1,000.00",
        "1000,50",
        " 1000",
        "1000 ",
        "1000\n",
        "1_000",
        "NaN",
        "inf",
        "abc",
        "1.2.3",
        "0x10",
        "١٢٣",  # Arabic-Indic digits: isdigit() is True, but not ASCII
        "１２",  # full-width digits
    ],
)
def test_sum_str_to_tiyin_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        sum_str_to_tiyin(bad)


@pytest.mark.parametrize("bad", [100, 1.5, b"100", None])
def test_sum_str_to_tiyin_rejects_non_str(bad: object) -> None:
    with pytest.raises(TypeError):
        sum_str_to_tiyin(bad)  # type: ignore[arg-type]
