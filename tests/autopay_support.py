"""The autopay tests' world: moto's tables, KMS and SQS from template.yaml, the billing core, and an
in-memory Subscribe API (tests.autopay_fakes) behind enrolment, the schedule and the charger.

Time: the world's clock starts on 2026-10-05 09:00 Tashkent, the day the default autopays (day 5) are due.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tests.autopay_fakes import OK_CARD, FakeSubscribe
from tests.fakes import StaticKeyStore
from tests.payme_harness import LOCAL_KEY, auth_header, gas, water
from tolov.autopay.charger import ChargeOutcome, Charger
from tolov.autopay.dynamo import DynamoAutopayStore
from tolov.autopay.enrolment import AutopayView, Enrolment
from tolov.autopay.repository import Autopay, PeriodCharge
from tolov.autopay.schedule import ChargeRequest, Scheduler
from tolov.autopay.vault import CardVault
from tolov.billing.invoices import Billing, NewItem
from tolov.billing.ledger import Ledger
from tolov.clock import TASHKENT
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.merchant_api import Merchant, PaymeRequest
from tolov.settings import PaymeSettings, Settings, load_settings

DAY_MS = 86_400_000
T0 = int(datetime(2026, 10, 5, 9, 0, tzinfo=TASHKENT).timestamp() * 1000)
MIN = 100_000  # the apartment top-up minimum of the template (1 000 sum)


@dataclass
class Clock:
    now: int = T0

    def __call__(self) -> int:
        return self.now

    def to(self, day: str, hour: int = 9) -> None:
        moment = datetime.fromisoformat(day).replace(hour=hour, tzinfo=TASHKENT)
        self.now = int(moment.timestamp() * 1000)


@dataclass
class ListQueue:
    """The charge queue as a list: what a run sent."""

    messages: list[dict[str, str]] = field(default_factory=list)
    batches: int = 0

    def send(self, messages: Sequence[dict[str, str]]) -> int:
        assert len(messages) <= 10
        self.batches += 1
        self.messages.extend(messages)
        return len(messages)


@dataclass
class World:
    settings: Settings
    clock: Clock
    fake: FakeSubscribe
    billing: Billing
    ledger: Ledger
    store: DynamoAutopayStore
    vault: CardVault
    enrolment: Enrolment
    charger: Charger
    queue: ListQueue

    # ------------------------------------------------------------------ setting up
    def apartment(
        self, apartment_id: str = "apt-1", debt: Sequence[NewItem] = (), period: str = "2026-09"
    ) -> str:
        self.billing.put_apartment(apartment_id, f"Flat {apartment_id}", "res-1")
        if debt:
            self.billing.create_invoice(apartment_id, period, list(debt))
        return apartment_id

    def invoice(self, apartment_id: str, period: str, *items: NewItem) -> None:
        self.billing.create_invoice(apartment_id, period, list(items))

    def enrol(
        self,
        apartment_id: str = "apt-1",
        *,
        number: str = OK_CARD,
        day: int = 5,
        max_amount: int = 10_000_000,
        **card: Any,
    ) -> AutopayView:
        token = self.fake.add_card(number, **card)
        return self.enrolment.enrol(apartment_id, token, day, max_amount)[0]

    # ------------------------------------------------------------------ running
    def autopay(self, autopay_id: str) -> Autopay:
        found = self.store.get(autopay_id)
        assert found is not None
        return found

    def period(self, autopay_id: str, period: str) -> PeriodCharge | None:
        return self.store.period(autopay_id, period)

    def request(
        self, autopay_id: str, run_date: str | None = None, period: str | None = None
    ) -> ChargeRequest:
        autopay = self.autopay(autopay_id)
        day = run_date or autopay.due_date or ""
        return ChargeRequest(autopay_id, period or autopay.due_period or day[:7], date.fromisoformat(day))

    def charge(
        self, autopay_id: str, run_date: str | None = None, period: str | None = None
    ) -> ChargeOutcome:
        request = self.request(autopay_id, run_date, period)
        self.clock.to(request.run_date.isoformat())
        return self.charger.charge(request)

    def run(self, day: str) -> list[ChargeRequest]:
        """A scheduler run of that date: the messages it sent."""
        self.clock.to(day)
        self.queue.messages.clear()
        Scheduler(self.store, self.queue, self.settings.autopay.shards).run(date.fromisoformat(day))
        return [ChargeRequest.from_message(m) for m in self.queue.messages]

    def debt(self, apartment_id: str = "apt-1") -> int:
        return self.billing.balance(apartment_id).debt

    def credit(self, apartment_id: str = "apt-1") -> int:
        return self.billing.balance(apartment_id).credit


def build_world(*, fake: FakeSubscribe | None = None, **autopay: Any) -> World:
    """Under the `aws` fixture (moto with the template's resources and the billing API's environment)."""
    settings = load_settings()
    if autopay:
        settings = settings._replace(autopay=settings.autopay._replace(**autopay))
    clock = Clock()
    fake = fake or FakeSubscribe()
    ledger = Ledger()
    store = DynamoAutopayStore()
    vault = CardVault(settings.autopay.kms_key_id)
    payme = PaymeSettings(
        topup_ikpu="10305008002000000", topup_package_code="1503873", topup_title="Kommunal to'lov"
    )
    enrolment = Enrolment(store, fake, vault, ledger, settings.limits, settings.autopay.shards, clock=clock)
    charger = Charger(
        store, fake, vault, ledger, payme, settings.limits, settings.autopay, clock=clock
    )
    return World(
        settings,
        clock,
        fake,
        Billing(ledger=ledger),
        ledger,
        store,
        vault,
        enrolment,
        charger,
        ListQueue(),
    )


def merchant_endpoint() -> tuple[Merchant, Any]:
    """Our Payme Merchant API in-process, and a callable playing Payme's calls to it (for FakeSubscribe)."""
    merchant = Merchant(
        DynamoRepository(),
        StaticKeyStore(LOCAL_KEY),
        PaymeSettings(key_secret_arn="PaymeKeySecret"),
        load_settings().limits,
    )
    ids = iter(range(1, 10**9))

    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"method": method, "params": params, "id": next(ids)})
        reply: dict[str, Any] = merchant.handle(PaymeRequest(body, auth_header())).reply
        return reply

    return merchant, call


__all__ = ["gas", "water"]
