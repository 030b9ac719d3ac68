"""Stuck states and what the providers' status APIs say about them.

| stuck                                   | asked                    | resolved when                         |
|-----------------------------------------|--------------------------|---------------------------------------|
| Payme transaction in state 1 past 12 h  | receipts.check           | 50, or no such receipt (a checkout    |
|                                         |                          | payment): cancelled with reason 4, as |
|                                         |                          | Payme's own time-out rule ends it     |
| Click Prepare never completed           | payment/status           | declined or unknown at Click:         |
|                                         |                          | cancelled, the reservation released   |
| Click confirmed_unposted                | payment/status           | no longer successful: marked reversed;|
|                                         |                          | still successful: the reversal queued |
|                                         |                          | again (it may have ended in the DLQ)  |
| autopay receipt in flight               | receipts.check           | 4 or 50: a charge message, so the     |
|                                         |                          | charger records it its own one way    |

Anything else (paid at the provider but never completed here, still processing, the provider not
answering) is left as it is and listed in the report for a person; the next run asks again. Every change
is the payment path's own conditional write, so a run racing a provider's late callback loses cleanly.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, Protocol

from tolov.billing.errors import StateChanged
from tolov.click.attempt import ClickTx, ReversalRequest, TxState
from tolov.click.merchant_api import ClickMerchantError, PaymentStatus
from tolov.click.repository import ClickRepository
from tolov.payme.repository import Repository
from tolov.payme.subscribe_api import SubscribeError
from tolov.payme.transaction import CREATED, REASON_TIMEOUT, Transaction
from tolov.reconciliation.dynamo import ClickRow, InFlight

DAY_MS = 86_400_000
RECEIPT_NOT_FOUND = -31602
PAID, CANCELLED = 4, 50


class Sources(Protocol):
    def payme_created(self, start: int, end: int) -> list[Transaction]: ...

    def click_prepared(self, start: int, end: int) -> list[ClickRow]: ...

    def autopay_in_flight(self, run_date: date, shards: int) -> list[InFlight]: ...


class ReceiptStates(Protocol):
    def receipts_check(self, receipt_id: str) -> int: ...


class ClickStatus(Protocol):
    def payment_status(self, payment_id: int) -> PaymentStatus: ...


class Queue(Protocol):
    def enqueue(self, request: ReversalRequest) -> None: ...


class ChargeQueue(Protocol):
    def send(self, messages: list[dict[str, str]]) -> int: ...


class Finding(NamedTuple):
    kind: str  # payme_created | click_prepared | click_confirmed_unposted | autopay_in_flight
    provider: str
    transaction_id: str
    amount: int | None
    since: int  # ms: when it entered the stuck state (as far as we know)
    resolved: bool
    note: str

    def view(self) -> dict[str, Any]:
        return self._asdict()


@dataclass
class Resolver:
    sources: Sources
    receipts: Callable[[], ReceiptStates]
    click: Callable[[], ClickStatus]
    payme_writes: Repository  # the Payme and Click adapters: their conditional writes
    click_writes: ClickRepository
    reversals: Queue
    charges: ChargeQueue
    payme_stuck_ms: int = 43_200_000
    click_stuck_ms: int = 3_600_000
    lookback_days: int = 7
    shards: int = 16
    findings: list[Finding] = field(default_factory=list)

    def run(self, now: int, run_date: date) -> list[Finding]:
        start = now - self.lookback_days * DAY_MS
        found: list[Finding] = []
        for tx in self.sources.payme_created(start, now - self.payme_stuck_ms):
            if tx.state == CREATED:
                found.append(self._payme(tx, now))
        for row in self.sources.click_prepared(start, now):
            if row.tx.state is TxState.PREPARED and row.tx.created_at <= now - self.click_stuck_ms:
                found.append(self._click_prepared(row.tx, now))
            elif row.tx.state is TxState.CONFIRMED_UNPOSTED:
                found.append(self._click_unposted(row, now))
        for flight in self.sources.autopay_in_flight(run_date, self.shards):
            found.append(self._autopay(flight, run_date))
        return found

    # ------------------------------------------------------------------ Payme
    def _payme(self, tx: Transaction, now: int) -> Finding:
        def finding(resolved: bool, note: str) -> Finding:
            return Finding("payme_created", "payme", tx.id, tx.amount, tx.time, resolved, note)

        try:
            state: int | None = self.receipts().receipts_check(tx.id)
        except SubscribeError as error:
            if error.code != RECEIPT_NOT_FOUND:
                return finding(False, f"receipts.check failed ({error.code}); asked again next run")
            state = None  # a checkout payment, not a Subscribe receipt: Payme's time-out rule decides
        except Exception as error:
            return finding(False, f"receipts.check did not answer ({type(error).__name__})")
        if state not in (None, CANCELLED):
            return finding(False, f"receipt state {state} at Payme: left for Payme's callbacks")
        with contextlib.suppress(StateChanged):  # a late callback moved it first: it is not stuck any more
            self.payme_writes.cancel(tx, now, REASON_TIMEOUT)
        why = "no such receipt" if state is None else "receipt cancelled (50)"
        return finding(True, f"{why}: cancelled with reason 4 (Payme's 12 h time-out)")

    # ------------------------------------------------------------------ Click
    def _status(self, tx: ClickTx) -> PaymentStatus | str:
        try:
            return self.click().payment_status(int(tx.click_paydoc_id))
        except ClickMerchantError as error:
            return f"unknown at Click ({error.error_code})"
        except Exception as error:
            return f"payment/status did not answer ({type(error).__name__})"

    def _click_prepared(self, tx: ClickTx, now: int) -> Finding:
        def finding(resolved: bool, note: str) -> Finding:
            return Finding(
                "click_prepared", "click", tx.click_trans_id, tx.amount, tx.created_at, resolved, note
            )

        status = self._status(tx)
        if isinstance(status, str) and not status.startswith("unknown"):
            return finding(False, status)
        if isinstance(status, PaymentStatus) and not status.declined:
            what = (
                "paid at Click, Complete not received" if status.successful else "still processing at Click"
            )
            return finding(False, f"{what} (payment_status {status.payment_status}); left as it is")
        note = status if isinstance(status, str) else f"declined at Click ({status.payment_status})"
        with contextlib.suppress(StateChanged):
            self.click_writes.cancel(tx, f"reconciliation: {note}", None, now)
        return finding(True, f"{note}: cancelled, reservation released")

    def _click_unposted(self, row: ClickRow, now: int) -> Finding:
        tx = row.tx
        since = row.confirmed_at or tx.created_at

        def finding(resolved: bool, note: str) -> Finding:
            return Finding(
                "click_confirmed_unposted", "click", tx.click_trans_id, tx.amount, since, resolved, note
            )

        status = self._status(tx)
        if isinstance(status, str):
            return finding(False, status)
        if status.successful:
            request = ReversalRequest(
                tx.click_trans_id,
                tx.click_paydoc_id,
                tx.merchant_trans_id,
                tx.amount,
                tx.reason or "reconciliation",
            )
            try:
                self.reversals.enqueue(request)
            except Exception as error:
                return finding(False, f"still paid at Click; reversal not queued ({type(error).__name__})")
            return finding(False, "still paid at Click: reversal queued again")
        if status.declined:
            with contextlib.suppress(StateChanged):
                self.click_writes.mark_reversed(tx.click_trans_id, now)
            return finding(True, f"no longer paid at Click ({status.payment_status}): marked reversed")
        return finding(False, f"payment_status {status.payment_status} at Click; left as it is")

    # ------------------------------------------------------------------ autopay
    def _autopay(self, flight: InFlight, run_date: date) -> Finding:
        def finding(resolved: bool, note: str) -> Finding:
            return Finding("autopay_in_flight", "payme", flight.receipt_id, flight.amount, 0, resolved, note)

        try:
            state = self.receipts().receipts_check(flight.receipt_id)
        except Exception as error:
            return finding(False, f"receipts.check failed ({type(error).__name__}); asked again next run")
        if state not in (PAID, CANCELLED):
            return finding(False, f"receipt state {state}: still in flight at Payme")
        message = {"autopay_id": flight.autopay_id, "period": flight.period, "run_date": run_date.isoformat()}
        self.charges.send([message])
        return finding(True, f"receipt state {state}: charge message sent, the charger records it")
