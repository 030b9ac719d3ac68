"""Which language a page speaks, and money and periods as each language writes them."""

import pytest

from tolov.pages.i18n import LANGUAGES, TEXTS, choose, money, period

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("ru", "en-US,en;q=0.9", "ru"),  # ?lang= wins
        ("EN", None, "en"),
        ("de", "ru-RU,ru;q=0.9", "ru"),  # not ours: Accept-Language decides
        (None, "en-US,en;q=0.9,ru;q=0.8", "en"),
        (None, "ru;q=0.5, en;q=0.9", "en"),  # by quality, not by order
        (None, "uz-Cyrl-UZ", "uz"),
        (None, "fr-FR,de;q=0.8", "uz"),  # none of ours: Uzbek
        (None, "en;q=0, ru;q=0.1", "ru"),  # q=0 means "not this one"
        (None, "en;q=abc", "uz"),
        (None, "", "uz"),
        (None, None, "uz"),
        (None, "ru, en", "ru"),  # equal quality: the first
    ],
)
def test_language_choice(query: str | None, accept: str | None, expected: str) -> None:
    assert choose(query, accept) == expected


@pytest.mark.parametrize(
    ("tiyin", "lang", "expected"),
    [
        (12_345_678, "uz", f"123{NBSP}456,78{NBSP}so'm"),
        (12_345_678, "ru", f"123{NBSP}456,78{NBSP}сум"),
        (12_345_678, "en", f"123,456.78{NBSP}sum"),
        (5, "en", f"0.05{NBSP}sum"),
        (0, "uz", f"0,00{NBSP}so'm"),
        (100, "ru", f"1,00{NBSP}сум"),
        (123_456_789_012_345_67, "en", f"123,456,789,012,345.67{NBSP}sum"),  # beyond a double's precision
    ],
)
def test_money_is_exact_sum_with_two_decimals(tiyin: int, lang: str, expected: str) -> None:
    assert money(tiyin, lang) == expected


@pytest.mark.parametrize("bad", [1.5, 100.0, True])
def test_money_takes_integer_tiyin_only(bad: object) -> None:
    with pytest.raises(TypeError):
        money(bad, "uz")  # type: ignore[arg-type]


def test_periods_read_as_each_language_writes_them() -> None:
    assert period("2026-11", "uz") == "2026-yil noyabr"
    assert period("2026-11", "ru") == "Ноябрь 2026"
    assert period("2026-01", "en") == "January 2026"
    assert period("bogus", "en") == "bogus"


def test_every_text_has_every_language() -> None:
    assert [key for key, texts in TEXTS.items() if set(texts) != set(LANGUAGES)] == []
