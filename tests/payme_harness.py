"""Shared pieces of the Payme tests: a movable clock, a merchant on moto, seeded accounts, calls."""

import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from tolov.billing.invoices import Billing, NewItem
from tolov.payme.config import PaymeConfig
from tolov.payme.keys import SecretKeyStore
from tolov.payme.merchant import Merchant, PaymeRequest
from tolov.payme.store import DynamoRepository

LOCAL_KEY = "local-payme-key"
SECRET_ID = "PaymeKeySecret"  # the local stand-in names secrets by their logical id
T0 = 1_790_000_000_000  # 2026-09-21T14:13:20Z
HOUR = 3_600_000
TIMEOUT = 43_200_000


def auth_header(key: str = LOCAL_KEY, login: str = "Paycom") -> dict[str, str]:
    token = base64.b64encode(f"{login}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Clock:
    now: int = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def config(**overrides: Any) -> PaymeConfig:
    values: dict[str, Any] = {
        "key_secret_arn": SECRET_ID,
        "topup_ikpu": "10305008002000000",
        "topup_package_code": "1503873",
        "topup_title": "Kommunal to'lov",
        "topup_vat_percent": 12,
    }
    values.update(overrides)
    return PaymeConfig(**values)


def water(amount: int = 25_000_00, count: int = 1) -> NewItem:
    return NewItem("water", "Sovuq suv", amount, count, "10301001001000000", "1503826", 12)


def gas(amount: int = 15_000_00, count: int = 1) -> NewItem:
    return NewItem("gas", "Gaz", amount, count, "10302001001000000", "1503827", 12)


@dataclass
class Harness:
    clock: Clock
    merchant: Merchant
    billing: Billing
    repo: DynamoRepository
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def call(
        self, method: str, params: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        request_id = next(self.ids)
        body = json.dumps({"method": method, "params": params, "id": request_id})
        reply = self.merchant.handle(PaymeRequest(body, auth_header() if headers is None else headers)).reply
        assert reply["id"] == request_id
        return reply

    def result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = self.call(method, params)
        assert "error" not in reply, reply
        return reply["result"]  # type: ignore[no-any-return]

    def error(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = self.call(method, params)
        assert "result" not in reply, reply
        return reply["error"]  # type: ignore[no-any-return]

    def apartment(self, apartment_id: str = "apt-1", label: str = "Chilonzor 9-12-34") -> str:
        self.billing.put_apartment(apartment_id, label, "resident-1")
        return apartment_id

    def invoice(
        self, *items: NewItem, apartment_id: str = "apt-1", period: str = "2026-09"
    ) -> tuple[str, int]:
        self.apartment(apartment_id)
        invoice = self.billing.create_invoice(apartment_id, period, list(items) or [water(), gas()])
        return invoice.invoice_id, int(invoice.amount) - int(invoice.paid_amount)

    def create(
        self, payme_id: str, amount: int, account: dict[str, Any], time: int | None = None
    ) -> dict[str, Any]:
        params = {
            "id": payme_id,
            "time": self.clock.now if time is None else time,
            "amount": amount,
            "account": account,
        }
        return self.call("CreateTransaction", params)


def make_harness(clock: Clock | None = None, **overrides: Any) -> Harness:
    clock = clock or Clock()
    repo = DynamoRepository(clock)
    merchant = Merchant(repo, SecretKeyStore(SECRET_ID), config(**overrides), clock=clock)
    return Harness(clock, merchant, repo.billing, repo)


@pytest.fixture
def harness(aws: None) -> Iterator[Harness]:
    parameters.clear_caches()  # a key changed by one test must not leak into the next
    yield make_harness()
    parameters.clear_caches()
