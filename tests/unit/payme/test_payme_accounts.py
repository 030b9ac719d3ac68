"""Accounts: invoices (one-time) and apartments (accumulative), field names from configuration,
limits, `additional`, and the fiscal `detail` of CheckPerformTransaction."""

from typing import Any

import pytest

from tests.payme_harness import Clock, Harness, gas, make_harness, water
from tolov.billing.keys import PaymentKey
from tolov.settings import ApartmentLimits

PID = "5305e3bab097f420a62ced0b"


def assert_account_error(error: dict[str, Any], field: str) -> None:
    assert -31099 <= error["code"] <= -31050
    assert error["data"] == field
    assert set(error["message"]) == {"ru", "uz", "en"} and all(error["message"].values())


# ---------------------------------------------------------------------- account errors
@pytest.mark.parametrize("method", ["CheckPerformTransaction", "CreateTransaction"])
@pytest.mark.parametrize(
    ("account", "field"),
    [
        ({"order_id": "9999999999"}, "order_id"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": {"nested": 1}}, "order_id"),
        ({"order_id": "x" * 500}, "order_id"),
        ({"order_id": "12 34"}, "order_id"),
        ({"apartment_id": "no-such-flat"}, "apartment_id"),
        ({"apartment_id": None}, "apartment_id"),
        ({}, "order_id"),
        ({"phone": "998901234567"}, "order_id"),
    ],
)
def test_unknown_or_malformed_account(
    harness: Harness, method: str, account: dict[str, Any], field: str
) -> None:
    params: dict[str, Any] = {"amount": 500_000, "account": account}
    if method == "CreateTransaction":
        params |= {"id": PID, "time": harness.clock.now}
    assert_account_error(harness.error(method, params), field)
    assert harness.repo.get(PID) is None


def test_wrong_amount_for_a_valid_invoice(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    for wrong in (amount - 1, amount + 1, amount * 100, amount // 100):
        params = {"amount": wrong, "account": {"order_id": invoice_id}}
        assert h.error("CheckPerformTransaction", params)["code"] == -31001
        assert h.create(PID, wrong, {"order_id": invoice_id})["error"]["code"] == -31001
    assert h.repo.invoice(invoice_id).holder is None


@pytest.mark.parametrize("amount", [0, -100, 1.5, 4_000_000.0])
def test_amount_must_be_a_positive_whole_number_of_tiyin(harness: Harness, amount: Any) -> None:
    h = harness
    invoice_id, _ = h.invoice()
    assert (
        h.error("CheckPerformTransaction", {"amount": amount, "account": {"order_id": invoice_id}})["code"]
        == -31001
    )


def test_account_value_may_arrive_as_a_number(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    result = h.result("CheckPerformTransaction", {"amount": amount, "account": {"order_id": int(invoice_id)}})
    assert result["allow"] is True


def test_cancelled_invoice_is_refused(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.billing.cancel_invoice(invoice_id)
    error = h.error("CheckPerformTransaction", {"amount": amount, "account": {"order_id": invoice_id}})
    assert error["code"] == -31008
    assert h.create(PID, amount, {"order_id": invoice_id})["error"]["code"] == -31008


def test_invoice_reserved_by_another_provider_is_busy(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.billing.ledger.lock_invoice(PaymentKey("click", "777"), invoice_id, amount)
    error = h.error("CheckPerformTransaction", {"amount": amount, "account": {"order_id": invoice_id}})
    assert error["code"] == -31008
    assert h.create(PID, amount, {"order_id": invoice_id})["error"]["code"] == -31008


# ---------------------------------------------------------------------- configuration
def test_field_names_come_from_configuration(aws: None) -> None:
    h = make_harness(Clock(), invoice_field="invoice", apartment_field="flat")
    invoice_id, amount = h.invoice()
    h.apartment("apt-9")
    assert h.result("CheckPerformTransaction", {"amount": amount, "account": {"invoice": invoice_id}})[
        "allow"
    ]
    assert h.result("CheckPerformTransaction", {"amount": 500_000, "account": {"flat": "apt-9"}})["allow"]
    assert_account_error(
        h.error("CheckPerformTransaction", {"amount": amount, "account": {"order_id": invoice_id}}), "invoice"
    )
    assert h.create(PID, amount, {"invoice": invoice_id})["result"]["state"] == 1
    assert h.result("PerformTransaction", {"id": PID})["state"] == 2


def test_an_account_type_can_be_switched_off(aws: None) -> None:
    h = make_harness(Clock(), apartment_field="")
    h.apartment("apt-9")
    error = h.error("CheckPerformTransaction", {"amount": 500_000, "account": {"apartment_id": "apt-9"}})
    assert_account_error(error, "order_id")


def test_invoice_field_wins_when_both_are_sent(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    result = h.result(
        "CheckPerformTransaction",
        {"amount": amount, "account": {"order_id": invoice_id, "apartment_id": "apt-1"}},
    )
    assert "detail" in result and "additional" not in result


@pytest.mark.parametrize(
    ("amount", "code"), [(99_999, -31001), (100_000, None), (5_000_000_000, None), (5_000_000_001, -31001)]
)
def test_apartment_limits(harness: Harness, amount: int, code: int | None) -> None:
    h = harness
    account = {"apartment_id": h.apartment()}
    check = h.call("CheckPerformTransaction", {"amount": amount, "account": account})
    create = h.create(PID, amount, account)
    if code is None:
        assert check["result"]["allow"] is True and create["result"]["state"] == 1
    else:
        assert check["error"]["code"] == code and create["error"]["code"] == code
        assert h.repo.get(PID) is None


def test_limits_are_configurable(aws: None) -> None:
    h = make_harness(Clock(), limits=ApartmentLimits(min_tiyin=1, max_tiyin=1000))
    account = {"apartment_id": h.apartment()}
    assert h.result("CheckPerformTransaction", {"amount": 1, "account": account})["allow"] is True
    assert h.error("CheckPerformTransaction", {"amount": 1001, "account": account})["code"] == -31001


# ---------------------------------------------------------------------- additional and detail
def test_apartment_additional_carries_label_and_current_debt(harness: Harness) -> None:
    h = harness
    h.apartment("apt-1", "Sergeli 7-3-21")
    h.invoice(water(30_000_00), period="2026-08")
    h.invoice(gas(12_000_00), period="2026-09")
    result = h.result("CheckPerformTransaction", {"amount": 500_000, "account": {"apartment_id": "apt-1"}})
    assert result["additional"] == {"label": "Sergeli 7-3-21", "debt": 42_000_00}
    h.create(PID, 500_000, {"apartment_id": "apt-1"})
    h.result("PerformTransaction", {"id": PID})
    result = h.result("CheckPerformTransaction", {"amount": 500_000, "account": {"apartment_id": "apt-1"}})
    assert result["additional"]["debt"] == 42_000_00 - 500_000


def test_apartment_top_up_detail_is_the_configured_service_item(harness: Harness) -> None:
    h = harness
    result = h.result(
        "CheckPerformTransaction", {"amount": 750_000, "account": {"apartment_id": h.apartment()}}
    )
    assert result["detail"] == {
        "receipt_type": 0,
        "items": [
            {
                "title": "Kommunal to'lov",
                "price": 750_000,
                "count": 1,
                "code": "10305008002000000",
                "package_code": "1503873",
                "vat_percent": 12,
            }
        ],
    }


def test_without_a_configured_ikpu_top_ups_carry_no_detail(aws: None) -> None:
    h = make_harness(Clock(), topup_ikpu="", topup_package_code="")
    result = h.result(
        "CheckPerformTransaction", {"amount": 750_000, "account": {"apartment_id": h.apartment()}}
    )
    assert result["allow"] is True and "detail" not in result


def test_invoice_detail_lists_each_item_at_its_unit_price(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice(water(1_250_00, count=3), gas(800_00, count=2))
    result = h.result("CheckPerformTransaction", {"amount": amount, "account": {"order_id": invoice_id}})
    assert result == {
        "allow": True,
        "detail": {
            "receipt_type": 0,
            "items": [
                {
                    "title": "Sovuq suv",
                    "price": 1_250_00,
                    "count": 3,
                    "code": "10301001001000000",
                    "package_code": "1503826",
                    "vat_percent": 12,
                },
                {
                    "title": "Gaz",
                    "price": 800_00,
                    "count": 2,
                    "code": "10302001001000000",
                    "package_code": "1503827",
                    "vat_percent": 12,
                },
            ],
        },
    }
    assert sum(i["price"] * i["count"] for i in result["detail"]["items"]) == amount


def test_invoice_partly_paid_from_credit_shows_the_prepaid_part_as_discount(harness: Harness) -> None:
    h = harness
    account = {"apartment_id": h.apartment()}
    h.create(PID, 1_000_00 * 10, account)  # 10 000 sum of credit before the invoice exists
    h.result("PerformTransaction", {"id": PID})
    invoice_id, amount = h.invoice(water(6_000_00), gas(9_000_00))
    assert amount == 5_000_00
    result = h.result("CheckPerformTransaction", {"amount": amount, "account": {"order_id": invoice_id}})
    items = result["detail"]["items"]
    assert sum(i["price"] * i["count"] - i.get("discount", 0) for i in items) == amount
    assert [i.get("discount", 0) for i in items] == [6_000_00, 4_000_00]
