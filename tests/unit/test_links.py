"""Payment links against known vectors."""

import base64
from urllib.parse import parse_qsl, urlsplit

import pytest

from tolov.click.links import pay_link
from tolov.payme.links import checkout_link


def test_payme_link_matches_the_documented_vector() -> None:
    # Payme's documented GET example: m=587f72c72cac0d162c722ae2;ac.order_id=197;a=500 (5 sum)
    assert (
        checkout_link("https://checkout.paycom.uz", "587f72c72cac0d162c722ae2", {"order_id": "197"}, 500)
        == "https://checkout.paycom.uz/bT01ODdmNzJjNzJjYWMwZDE2MmM3MjJhZTI7YWMub3JkZXJfaWQ9MTk3O2E9NTAw"
    )


def test_payme_link_with_language_and_return_url_against_the_sandbox() -> None:
    link = checkout_link(
        "https://test.paycom.uz/",
        "5e730e8e0b852a417aa49ceb",
        {"order_id": "1234567890"},
        690000,
        return_url="https://pay.example.uz/done",
        lang="uz",
    )
    prefix, encoded = link.rsplit("/", 1)
    assert prefix == "https://test.paycom.uz"
    assert base64.b64decode(encoded).decode() == (
        "m=5e730e8e0b852a417aa49ceb;ac.order_id=1234567890;a=690000;l=uz;c=https://pay.example.uz/done"
    )


@pytest.mark.parametrize(
    ("account", "amount", "lang"),
    [
        ({"order_id": "1;a=1"}, 500, None),
        ({"order_id": ""}, 500, None),
        ({"order_id": "1"}, 0, None),
        ({"order_id": "1"}, 10.5, None),
        ({"order_id": "1"}, 500, "de"),
    ],
)
def test_payme_link_refuses_values_that_would_change_the_receipt(
    account: dict[str, str], amount: object, lang: str | None
) -> None:
    with pytest.raises(ValueError):
        checkout_link("https://checkout.paycom.uz", "m1", account, amount, lang=lang)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tiyin", "sum_text"), [(1, "0.01"), (100, "1.00"), (690000, "6900.00"), (123456789, "1234567.89")]
)
def test_click_link_amount_is_sum_with_two_decimals(tiyin: int, sum_text: str) -> None:
    link = pay_link("12345", "54321", "1234567890", tiyin, return_url="https://pay.example.uz/done?a=1&b=2")
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://my.click.uz/services/pay"
    assert dict(parse_qsl(parts.query)) == {
        "service_id": "12345",
        "merchant_id": "54321",
        "amount": sum_text,
        "transaction_param": "1234567890",
        "return_url": "https://pay.example.uz/done?a=1&b=2",
    }
    assert "return_url=https%3A%2F%2Fpay.example.uz%2Fdone%3Fa%3D1%26b%3D2" in link


def test_click_link_known_vector() -> None:
    assert pay_link("12345", "54321", "order-42", 1500000) == (
        "https://my.click.uz/services/pay?service_id=12345&merchant_id=54321&amount=15000.00"
        "&transaction_param=order-42"
    )
