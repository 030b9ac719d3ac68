"""Reading SHOP-API bodies (form as Click posts, JSON for tools) and validating their fields (-8)."""

import base64
import json
from urllib.parse import urlencode

import pytest

from tests.click_support import complete_form, prepare_form
from tolov.click.request import parse_body, validate_fields
from tolov.click.shop_api import echo_trans_id

FORM = "application/x-www-form-urlencoded"


def test_form_body_keeps_raw_strings_and_decodes_plus_as_space() -> None:
    body = "click_trans_id=1485296553&amount=110000&sign_time=2021-10-05+20%3A17%3A14&error_note="
    assert parse_body(body, content_type=FORM) == {
        "click_trans_id": "1485296553",
        "amount": "110000",
        "sign_time": "2021-10-05 20:17:14",
        "error_note": "",
    }


def test_json_numbers_keep_their_source_text() -> None:
    body = '{"click_trans_id": 2000000001, "amount": 1000.00, "action": 0, "merchant_prepare_id": null}'
    assert parse_body(body, content_type="application/json") == {
        "click_trans_id": "2000000001",
        "amount": "1000.00",
        "action": "0",
    }


def test_json_is_recognised_without_a_content_type_and_base64_bodies_are_decoded() -> None:
    fields = prepare_form("2000000001", "apt-1", "1000")
    raw = json.dumps(fields)
    assert parse_body(raw, content_type=None) == fields
    encoded = base64.b64encode(urlencode(fields).encode()).decode()
    assert parse_body(encoded, content_type=FORM, base64_encoded=True) == fields


@pytest.mark.parametrize(
    ("body", "content_type", "b64"),
    [
        ("a=1&a=2", FORM, False),  # a repeated field is ambiguous
        ("a=%ff", FORM, False),  # not UTF-8
        ("[1, 2]", "application/json", False),
        ('{"a": {"b": 1}}', "application/json", False),
        ('{"a": true}', "application/json", False),
        ('{"a": NaN}', "application/json", False),
        ("{", "application/json", False),
        ("not base64!", FORM, True),
        ("\x80%", FORM, True),  # non-ASCII where base64 is promised (found by the fuzz test)
        (base64.b64encode(b"a=\xff").decode(), FORM, True),
        ("&".join(f"f{i}=1" for i in range(100)), FORM, False),
        ("x" * 20_000, FORM, False),
    ],
)
def test_unreadable_bodies(body: str, content_type: str, b64: bool) -> None:
    assert parse_body(body, content_type=content_type, base64_encoded=b64) is None


def test_a_complete_form_validates_and_derives_typed_values() -> None:
    request = validate_fields(complete_form("000123", "apt-1", "1000.5", 17, error="-5017"), complete=True)
    assert request is not None
    assert (request.tiyin, request.click_error, request.trans_id) == (100_050, -5017, "123")
    assert request.amount == "1000.5"  # the raw string is kept for the signature


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("click_trans_id", ""),
        ("click_trans_id", "12a"),
        ("click_trans_id", "-1"),
        ("click_trans_id", "1" * 20),
        ("click_trans_id", "9223372036854775808"),  # above bigint
        ("click_trans_id", "١٢٣"),  # non-ASCII digits
        ("service_id", "12 345"),
        ("click_paydoc_id", "1.5"),
        ("merchant_trans_id", ""),
        ("merchant_trans_id", "x" * 129),
        ("amount", "1e3"),
        ("amount", "-1000"),
        ("amount", "1000.001"),
        ("amount", "1,000"),
        ("amount", " 1000"),
        ("amount", "1000\n"),
        ("error", "1"),
        ("error", "-0"),
        ("error", "abc"),
        ("sign_time", ""),
        ("sign_string", ""),
        ("action", ""),
    ],
)
def test_malformed_fields(field: str, value: str) -> None:
    fields = prepare_form("2000000001", "apt-1", "1000")
    fields[field] = value
    assert validate_fields(fields, complete=False) is None


@pytest.mark.parametrize("missing", ["click_trans_id", "service_id", "click_paydoc_id", "merchant_trans_id",
                                     "amount", "action", "error", "sign_time", "sign_string"])
def test_missing_fields(missing: str) -> None:
    fields = prepare_form("2000000001", "apt-1", "1000")
    del fields[missing]
    assert validate_fields(fields, complete=False) is None


def test_complete_needs_the_prepare_id_and_prepare_does_not() -> None:
    fields = complete_form("2000000001", "apt-1", "1000", None)
    assert validate_fields(fields, complete=False) is not None
    assert validate_fields(fields, complete=True) is None
    fields["merchant_prepare_id"] = "abc"
    assert validate_fields(fields, complete=True) is None


@pytest.mark.parametrize(
    ("raw", "echo"),
    [("2000000001", 2000000001), ("007", 7), ("9223372036854775807", 2**63 - 1),
     ("9223372036854775808", None), ("12a", None), ("", None), ("١٢٣", None)],
)
def test_click_trans_id_is_echoed_as_an_integer_or_null(raw: str, echo: int | None) -> None:
    assert echo_trans_id({"click_trans_id": raw}) == echo
