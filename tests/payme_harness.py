"""Shared pieces of the Payme tests: a movable clock, a merchant on moto or on the in-memory fakes,
seeded accounts, calls; the Lambda handler with the sample events."""

import base64
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from tests.fakes import FakeLedger, FakePaymeRepository, StaticKeyStore
from tests.support import ROOT, FakeContext, load_handler
from tolov.billing.invoices import Billing, NewItem
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.keys import KeyStore, SecretKeyStore
from tolov.payme.merchant_api import Merchant, PaymeRequest
from tolov.settings import ApartmentLimits, PaymeSettings, get_settings

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


def config(**overrides: Any) -> PaymeSettings:
    values: dict[str, Any] = {
        "key_secret_arn": SECRET_ID,
        "topup_ikpu": "10305008002000000",
        "topup_package_code": "1503873",
        "topup_title": "Kommunal to'lov",
        "topup_vat_percent": 12,
    }
    values.update(overrides)
    return PaymeSettings(**values)


def water(amount: int = 25_000_00, count: int = 1) -> NewItem:
    return NewItem("water", "Sovuq suv", amount, count, "10301001001000000", "1503826", 12)


def gas(amount: int = 15_000_00, count: int = 1) -> NewItem:
    return NewItem("gas", "Gaz", amount, count, "10302001001000000", "1503827", 12)


@dataclass
class Harness:
    """A merchant and what it stands on: DynamoDB on moto (repo.ledger a Ledger, billing a Billing) or the
    in-memory fakes (both a FakeLedger), read alike through the Repository protocol and these methods."""

    clock: Clock
    merchant: Merchant
    billing: Billing | FakeLedger
    repo: DynamoRepository | FakePaymeRepository
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    apartments: set[str] = field(default_factory=set)
    invoices_made: dict[str, int] = field(default_factory=dict)

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

    def posting(self, payme_id: str) -> Any:
        """The ledger's posting of this Payme transaction (a Posting or a FakePosting), or None."""
        posting: Any = self.repo.ledger.posting(f"payme#{payme_id}")
        return posting

    def apartment(self, apartment_id: str = "apt-1", label: str = "Chilonzor 9-12-34") -> str:
        self.billing.put_apartment(apartment_id, label, "resident-1")
        self.apartments.add(apartment_id)
        return apartment_id

    def invoice(
        self, *items: NewItem, apartment_id: str = "apt-1", period: str | None = None
    ) -> tuple[str, int]:
        """A new invoice; without a period, the month after the apartment's last one from 2026-09 on
        (a service is billed once per period, so a second invoice of the same items needs its own)."""
        if apartment_id not in self.apartments:
            self.apartment(apartment_id)
        made = self.invoices_made.get(apartment_id, 0)
        self.invoices_made[apartment_id] = made + 1
        if period is None:
            year, month = divmod(2026 * 12 + 8 + made, 12)
            period = f"{year}-{month + 1:02d}"
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


def make_harness(
    clock: Clock | None = None,
    keys: KeyStore | None = None,
    limits: ApartmentLimits | None = None,
    *,
    fake: bool = False,
    **overrides: Any,
) -> Harness:
    """On moto (inside the `aws` fixture; the key in Secrets Manager), or with fake=True on the in-memory
    fakes (the key in memory), which need no AWS at all."""
    clock = clock or Clock()
    repo: DynamoRepository | FakePaymeRepository
    billing: Billing | FakeLedger
    if fake:
        ledger = FakeLedger(clock)
        repo, billing = FakePaymeRepository(ledger), ledger
        keys = keys or StaticKeyStore(LOCAL_KEY)
    else:
        repo = DynamoRepository(clock)
        billing = repo.billing
        keys = keys or SecretKeyStore(SECRET_ID)
    merchant = Merchant(repo, keys, config(**overrides), limits or ApartmentLimits(), clock=clock)
    return Harness(clock, merchant, billing, repo)


@pytest.fixture
def harness(aws: None) -> Iterator[Harness]:
    """The merchant on moto."""
    parameters.clear_caches()  # a key changed by one test must not leak into the next
    yield make_harness()
    parameters.clear_caches()


@pytest.fixture(name="harness")
def harness_on_fakes() -> Harness:
    """`harness` in a module that imports this fixture: the merchant on the in-memory fakes, no moto."""
    return make_harness(fake=True)


def served_methods() -> list[str]:
    """The methods the Merchant API core serves: the keys of its method table."""
    merchant = Merchant(
        FakePaymeRepository(FakeLedger()), StaticKeyStore(LOCAL_KEY), config(), ApartmentLimits()
    )
    return sorted(merchant.methods)


# ---------------------------------------------------------------------- GetStatement's days
DAY = 86_400_000
MIDNIGHT = int(dt.datetime(2026, 9, 22, tzinfo=dt.UTC).timestamp() * 1000)  # day 2 starts


def ms(day: int, hh: int = 0, mm: int = 0, ss: int = 0, milli: int = 0) -> int:
    return MIDNIGHT + (day - 2) * DAY + ((hh * 60 + mm) * 60 + ss) * 1000 + milli


def populate_statement(h: Harness) -> dict[str, int]:
    """Transactions on both sides of two midnights, in every state: Payme id -> Payme time."""
    times = {
        "a" * 24: ms(1, 23, 59, 59, 999),
        "b" * 24: ms(2, 0, 0, 0, 0),
        "c" * 24: ms(2, 12),
        "d" * 24: ms(2, 23, 59, 59, 999),
        "e" * 24: ms(3, 0, 0, 0, 0),
        "f" * 24: ms(3, 0, 0, 0, 1),
    }
    h.apartment()
    for payme_id, time in times.items():
        h.clock.now = time + 1000
        assert "result" in h.create(payme_id, 500_000, {"apartment_id": "apt-1"}, time=time)
        if payme_id[0] in "cd":
            h.clock.advance(1000)
            h.result("PerformTransaction", {"id": payme_id})
        if payme_id[0] in "de":
            h.clock.advance(1000)
            h.result("CancelTransaction", {"id": payme_id, "reason": 5 if payme_id[0] == "d" else 3})
    return times


# ---------------------------------------------------------------------- the Lambda handler
EVENTS = ROOT / "events" / "payme"

HANDLER_ENV = {
    "PAYME_KEY_SECRET_ARN": SECRET_ID,
    "TOLOV_ENV": "dev",
    "PAYME_TOPUP_IKPU": "10305008002000000",
    "PAYME_TOPUP_PACKAGE_CODE": "1503873",
}


def load_event(method: str, **params: Any) -> dict[str, Any]:
    """A sample event from events/payme with some params replaced (ids that exist in this test)."""
    event: dict[str, Any] = json.loads((EVENTS / f"{method}.json").read_text())
    body = json.loads(event["body"])
    body["params"].update(params)
    event["body"] = json.dumps(body)
    return event


@dataclass
class Handler:
    app: ModuleType

    @classmethod
    def new_container(cls) -> "Handler":
        """The function as a new container runs it: its wiring built from the environment as it is now."""
        return cls(load_handler("payme_merchant", fresh=True))

    def respond(self, event: Any) -> dict[str, Any]:
        """The handler's raw response to any event."""
        response: dict[str, Any] = self.app.lambda_handler(event, FakeContext("PaymeMerchantFunction"))
        return response

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The JSON-RPC reply, checked to come as Payme requires: HTTP 200, JSON, a result or an error."""
        response = self.respond(event)
        assert response["statusCode"] == 200
        assert response["headers"]["Content-Type"].startswith("application/json")
        reply: dict[str, Any] = json.loads(response["body"])
        assert ("result" in reply) != ("error" in reply) and "id" in reply
        return reply


@pytest.fixture
def handler(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Handler]:
    for name, value in HANDLER_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    parameters.clear_caches()
    yield Handler.new_container()
    get_settings.cache_clear()
    parameters.clear_caches()
