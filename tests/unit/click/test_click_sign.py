"""sign_string: vectors computed from Click's documented formula and the raw-string rules."""

import pytest

from tolov.click.sign import sign_string, signature_matches

VECTOR = {
    "click_trans_id": "2000000001",
    "service_id": "12345",
    "secret_key": "TEST_SECRET",
    "merchant_trans_id": "order-42",
    "sign_time": "2024-05-01 12:00:00",
}


def test_prepare_reference_vector() -> None:
    got = sign_string(**VECTOR, merchant_prepare_id="", amount="15000.00", action="0")
    assert got == "8bcaa72dee27212febd9029b3332d878"


def test_complete_reference_vector_includes_the_prepare_id() -> None:
    got = sign_string(**VECTOR, merchant_prepare_id="17", amount="15000.00", action="1")
    assert got == "3881d894e29c383ade0ecd7f4d325db3"


def test_integer_amount_reference_vector_differs() -> None:
    got = sign_string(**VECTOR, merchant_prepare_id="", amount="15000", action="0")
    assert got == "1d83b4c2b022461e09e34654e8e59dc8"


def test_prepare_ignores_a_prepare_id_sent_along() -> None:
    assert sign_string(**VECTOR, merchant_prepare_id="17", amount="15000.00", action="0") == (
        "8bcaa72dee27212febd9029b3332d878"
    )


@pytest.mark.parametrize("amount", ["1000", "1000.00", "1000.5", "33139.73", "38400", "110000"])
def test_each_amount_format_verifies_against_exactly_what_was_signed(amount: str) -> None:
    signed = sign_string(**VECTOR, merchant_prepare_id="", amount=amount, action="0")
    assert signature_matches(sign_string(**VECTOR, merchant_prepare_id="", amount=amount, action="0"), signed)
    for other in {"1000", "1000.00", "1000.0", "1000.50"} - {amount}:
        reformatted = sign_string(**VECTOR, merchant_prepare_id="", amount=other, action="0")
        assert not signature_matches(reformatted, signed)


def test_comparison_accepts_upper_case_hex_and_never_raises_on_garbage() -> None:
    expected = "8bcaa72dee27212febd9029b3332d878"
    assert signature_matches(expected, expected.upper())
    for garbage in ["", "0e1234", "ы" * 32, "\x00" * 32, expected + " "]:
        assert not signature_matches(expected, garbage)
