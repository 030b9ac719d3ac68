"""Reconciliation on moto with the providers' status APIs faked, shared by the integration and template
tests; Click attempt rows as the SHOP-API path leaves them (for states HTTP cannot reach quickly)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from tests.payme_harness import Clock, Harness
from tolov.autopay.schedule import shard_of
from tolov.click.attempt import AccountKind, ClickTx, TxState
from tolov.click.dynamo import DynamoClickRepository, to_row
from tolov.click.merchant_api import ClickMerchantError, PaymentStatus
from tolov.events.changes import DomainEvent
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.subscribe_api import SubscribeError
from tolov.reconciliation.dynamo import DynamoSources
from tolov.reconciliation.reports import S3Reports
from tolov.reconciliation.run import Reconciliation
from tolov.reconciliation.stuck import Resolver
from tolov.store.autopay_models import AutopayPeriodRecord, AutopayRecord

BUCKET = "reportsbucket"


@dataclass
class Receipts:
    states: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, int] = field(default_factory=dict)

    def receipts_check(self, receipt_id: str) -> int:
        if receipt_id not in self.states:
            raise SubscribeError(-31602, "receipt not found", method="receipts.check")
        return self.states[receipt_id]

    def receipts_get(self, receipt_id: str) -> Any:
        """A receipt of the charger's (amounts in `amounts`), as far as reconciliation reads one."""
        state = self.receipts_check(receipt_id)
        return SimpleNamespace(id=receipt_id, state=state, amount=self.amounts.get(receipt_id, 0), pay_time=1)


@dataclass
class Click:
    statuses: dict[int, int] = field(default_factory=dict)

    def payment_status(self, payment_id: int) -> PaymentStatus:
        if payment_id not in self.statuses:
            raise ClickMerchantError(-5, "payment not found")
        return PaymentStatus(payment_id, self.statuses[payment_id])


@dataclass
class Recorded:
    events: list[DomainEvent] = field(default_factory=list)
    reversals: list[Any] = field(default_factory=list)
    charges: list[dict[str, str]] = field(default_factory=list)

    def put(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)

    def enqueue(self, request: Any) -> None:
        self.reversals.append(request)

    def send(self, messages: list[dict[str, str]]) -> int:
        self.charges.extend(messages)
        return len(messages)


@dataclass
class Rig:
    clock: Clock
    receipts: Receipts
    click: Click
    out: Recorded
    reconciliation: Reconciliation


@pytest.fixture
def rig(harness: Harness) -> Rig:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    receipts, click, out = Receipts(), Click(), Recorded()
    repository = DynamoRepository(harness.clock)
    sources = DynamoSources(repository)
    resolver = Resolver(
        sources, lambda: receipts, lambda: click, repository, DynamoClickRepository(), out, out, shards=16
    )
    reconciliation = Reconciliation(
        sources, resolver, S3Reports(BUCKET), out, lambda: receipts, clock=harness.clock
    )
    return Rig(harness.clock, receipts, click, out, reconciliation)


def click_row(
    trans_id: str, state: TxState, at: int, amount: int = 500_000, confirmed: int | None = None
) -> None:
    tx = ClickTx(
        click_trans_id=trans_id,
        click_paydoc_id=str(int(trans_id) + 1000),
        merchant_trans_id="apt-1",
        account=AccountKind.APARTMENT,
        amount=amount,
        prepare_id=int(trans_id),
        state=state,
        sign_time="2026-09-21 19:13:20",
        created_at=at,
        reason="ledger refused" if state is TxState.CONFIRMED_UNPOSTED else None,
    )
    row = to_row(tx)
    row.confirmed_at = confirmed
    row.save()


def autopay_in_flight(autopay_id: str, receipt_id: str, due: date, at: int, amount: int = 700_000) -> None:
    """An active autopay due on `due` whose period holds a receipt in flight, as the charger leaves it."""
    AutopayRecord(
        autopay_id,
        apartment_id="apt-1",
        provider="payme",
        card_number="860049******6478",
        card_expire="03/99",
        card_token=b"x",
        day_of_month=1,
        max_amount=amount,
        status="active",
        created_at=at,
        updated_at=at,
        due_shard=shard_of(autopay_id, 16),
        due_key=f"{due.isoformat()}#{autopay_id}",
        due_period="2026-09",
    ).save()
    AutopayPeriodRecord(
        autopay_id,
        "period#2026-09",
        period="2026-09",
        status="open",
        receipt_id=receipt_id,
        amount=amount,
        phase="pending",
        updated_at=at,
    ).save()
