"""The ledger's invariants, checked offline over whole tables: what must hold after any sequence of requests,
faults and retries, however they interleaved.

    python -m tolov.reconciliation.invariants      # the stage of the environment; exit 1 on any violation

It scans every table (ops' tool and the load test's last step, never a request path), so it reads what is
stored, not what any code path meant to store:

provider <-> posting
  posting_missing       a performed Payme transaction (2) or a confirmed Click attempt has no live posting
  posting_amount        ... or one of another amount, or posted to another invoice
  posting_not_reversed  a Payme transaction cancelled after perform (-2) whose posting is live
  posted_not_performed  a live posting of a Payme transaction in 1 or -1 (autopay receipts excepted in 1:
                        the Subscribe path posts before Payme's PerformTransaction), or of a Click attempt
                        that is not confirmed
  posting_orphan        a payme#/click# posting with no provider row (autopay receipts have none)
  autopay_unposted      an autopay period recorded paid whose receipt has no posting of that amount
posting <-> charges
  posting_sum           allocations + credit_added != amount
  allocation_orphan     an allocation to a charge that is not there (or is another invoice's)
  charge_amounts        a charge's paid + unpaid != amount, or paid outside 0..amount (overpaid)
  charge_allocations    a charge paid less than the live allocations to it
charges <-> invoice
  invoice_totals        amount != its items, its charges' amounts or paid != its charges' paid amounts
  invoice_status        paid/open does not follow paid_amount; a cancelled invoice with charges or money
  invoice_payments      payments[key] != the live allocations of that posting to it; the credit it took
                        != its charges' paid amounts not from postings; a reversed posting still listed
apartment credit
  apartment_credit      credit != sum of live postings' credit_added - credit the invoices took
reservations
  reservation_dead      an invoice held by an attempt that is no longer alive (cancelled, performed,
                        confirmed, or with no row)
  reservation_stale     ... by a live attempt past its provider's reservation TTL plus `grace_ms`
reversal
  reversal_fields       reversed_at without reversal_reason or the other way round
"""

import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tolov.billing.invoices import CREDIT_PAYMENT_KEY
from tolov.billing.keys import PaymentKey
from tolov.billing.reservations import RESERVATION_TTL_MS
from tolov.click.attempt import TxState
from tolov.clock import now_ms
from tolov.payme.transaction import CANCELLED, CANCELLED_AFTER_PERFORM, CREATED, PERFORMED
from tolov.settings import Settings
from tolov.store.autopay_models import AutopayAttemptRecord, AutopayPeriodRecord
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Apartment, Charge, Invoice, Posting, bind
from tolov.store.payme_models import PaymeTransactionRecord

# How long past its provider's TTL a live attempt may still hold a reservation before it is reported: the
# stuck-state sweep (tolov.reconciliation.stuck) cancels such attempts once a day.
DEFAULT_GRACE_MS = 26 * 3_600_000


@dataclass(frozen=True)
class Violation:
    kind: str
    key: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}\t{self.key}\t{self.detail}"


@dataclass(frozen=True)
class _Tables:
    postings: dict[str, Posting]
    invoices: dict[str, Invoice]
    charges: dict[tuple[str, str], Charge]
    apartments: dict[str, Apartment]
    payme: dict[str, PaymeTransactionRecord]
    click: dict[str, ClickTransaction]
    receipts: set[str]  # payment keys of autopay receipts
    paid_periods: list[AutopayPeriodRecord]


def _read() -> _Tables:
    periods = list(AutopayPeriodRecord.scan(AutopayPeriodRecord.sk.startswith("period#")))
    attempts = AutopayAttemptRecord.scan(AutopayAttemptRecord.sk.startswith("attempt#"))
    receipts = {r.receipt_id for r in periods if r.receipt_id} | {
        a.receipt_id for a in attempts if a.receipt_id
    }
    return _Tables(
        postings={p.payment_key: p for p in Posting.scan()},
        invoices={i.invoice_id: i for i in Invoice.scan()},
        charges={(c.apartment_id, c.charge_key): c for c in Charge.scan()},
        apartments={a.apartment_id: a for a in Apartment.scan()},
        payme={
            r.tx_key: r
            for r in PaymeTransactionRecord.scan(PaymeTransactionRecord.tx_key.startswith("payme#"))
        },
        click={
            r.tx_key: r
            for r in ClickTransaction.scan(
                ClickTransaction.tx_key.startswith("click#") & ClickTransaction.state.exists()
            )
        },
        receipts={str(PaymentKey("payme", r)) for r in receipts},
        paid_periods=[p for p in periods if p.status == "paid"],
    )


def check_ledger(
    settings: Settings | None = None, *, now: int | None = None, grace_ms: int = DEFAULT_GRACE_MS
) -> list[Violation]:
    """Every violation of the ledger's invariants in the stage's tables (settings: bind to them first)."""
    if settings is not None:
        bind(settings)
    tables = _read()
    found: list[Violation] = []
    found += _providers(tables)
    found += _postings_and_charges(tables)
    found += _invoices(tables)
    found += _credit(tables)
    found += _reservations(tables, now_ms() if now is None else now, grace_ms)
    return found


def _live(posting: Posting | None) -> bool:
    return posting is not None and posting.reversed_at is None


# ---------------------------------------------------------------------- provider <-> posting
def _providers(t: _Tables) -> Iterable[Violation]:
    for key, row in t.payme.items():
        posting, state = t.postings.get(key), int(row.state)
        invoice = row.account_ref if row.account_kind == "invoice" else None
        if state == PERFORMED:
            yield from _posted_as(key, posting, int(row.amount), invoice, "Payme state 2")
        elif state == CANCELLED_AFTER_PERFORM and _live(posting):
            yield Violation("posting_not_reversed", key, "Payme state -2 with a live posting")
        elif state == CANCELLED_AFTER_PERFORM and posting is None:
            yield Violation("posting_missing", key, "Payme state -2 and no (reversed) posting")
        elif _live(posting) and (state == CANCELLED or (state == CREATED and key not in t.receipts)):
            yield Violation("posted_not_performed", key, f"a live posting of Payme state {state}")
    for key, attempt in t.click.items():
        posting, click_state = t.postings.get(key), attempt.state
        invoice = attempt.merchant_trans_id if attempt.account == "invoice" else None
        if click_state == TxState.CONFIRMED.value:
            yield from _posted_as(key, posting, int(attempt.amount), invoice, "Click confirmed")
        elif _live(posting):
            yield Violation("posted_not_performed", key, f"a live posting of a Click attempt {click_state}")
    for key in t.postings:
        provider = PaymentKey.provider_of(key)
        if provider == "payme" and key not in t.payme and key not in t.receipts:
            yield Violation("posting_orphan", key, "no Payme transaction and no autopay receipt")
        elif provider == "click" and key not in t.click:
            yield Violation("posting_orphan", key, "no Click attempt")
    for period in t.paid_periods:
        key = str(PaymentKey("payme", period.receipt_id or "?"))
        posting = t.postings.get(key)
        if not _live(posting) or (period.amount is not None and int(posting.amount) != int(period.amount)):  # type: ignore[union-attr]
            yield Violation(
                "autopay_unposted", f"{period.autopay_id}/{period.sk}", f"receipt {key} has no live posting"
            )


def _posted_as(
    key: str, posting: Posting | None, amount: int, invoice_id: str | None, what: str
) -> Iterable[Violation]:
    if posting is None or posting.reversed_at is not None:
        yield Violation("posting_missing", key, f"{what} and no live posting")
    elif int(posting.amount) != amount:
        yield Violation("posting_amount", key, f"{what} of {amount}, posted {int(posting.amount)}")
    elif invoice_id is not None and posting.invoice_id != invoice_id:
        yield Violation(
            "posting_amount", key, f"{what} for invoice {invoice_id}, posted to {posting.invoice_id}"
        )


# ---------------------------------------------------------------------- posting <-> charges
def _postings_and_charges(t: _Tables) -> Iterable[Violation]:
    allocated: dict[tuple[str, str], int] = defaultdict(int)
    for key, posting in t.postings.items():
        allocations = list(posting.allocations or [])
        total = sum(int(a.amount) for a in allocations) + int(posting.credit_added)
        if total != int(posting.amount):
            yield Violation(
                "posting_sum", key, f"allocations + credit {total} != amount {int(posting.amount)}"
            )
        if (posting.reversed_at is None) != (posting.reversal_reason is None):
            yield Violation("reversal_fields", key, "reversed_at and reversal_reason disagree")
        if posting.reversed_at is not None:
            continue
        for allocation in allocations:
            charge = t.charges.get((posting.apartment_id, allocation.charge_key))
            if charge is None or charge.invoice_id != allocation.invoice_id:
                yield Violation(
                    "allocation_orphan",
                    key,
                    f"no charge {posting.apartment_id}/{allocation.charge_key} of {allocation.invoice_id}",
                )
                continue
            allocated[(posting.apartment_id, allocation.charge_key)] += int(allocation.amount)
    for (apartment_id, charge_key), charge in t.charges.items():
        amount, paid, unpaid = int(charge.amount), int(charge.paid_amount), int(charge.unpaid)
        name = f"{apartment_id}/{charge_key}"
        if not 0 <= paid <= amount or paid + unpaid != amount:
            yield Violation("charge_amounts", name, f"amount {amount}, paid {paid}, unpaid {unpaid}")
        if paid < allocated[(apartment_id, charge_key)]:
            yield Violation(
                "charge_allocations", name, f"paid {paid} < allocated {allocated[(apartment_id, charge_key)]}"
            )


# ---------------------------------------------------------------------- charges <-> invoice
def _invoices(t: _Tables) -> Iterable[Violation]:
    charges_of: dict[str, list[Charge]] = defaultdict(list)
    for charge in t.charges.values():
        charges_of[charge.invoice_id].append(charge)
    # invoice -> posting key -> live allocations of that posting to it
    by_posting: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, posting in t.postings.items():
        if posting.reversed_at is None:
            for allocation in posting.allocations or []:
                by_posting[allocation.invoice_id][key] += int(allocation.amount)
    for invoice_id, invoice in t.invoices.items():
        key = f"invoice#{invoice_id}"
        amount, paid, status = int(invoice.amount), int(invoice.paid_amount), invoice.status
        payments = {k: int(v) for k, v in (invoice.payments.as_dict() if invoice.payments else {}).items()}
        charges = charges_of.get(invoice_id, [])
        if status == "cancelled":
            if charges or paid or payments:
                yield Violation("invoice_status", key, "cancelled with charges or payments left")
            continue
        items_total = sum(int(i.amount) * int(i.count) for i in invoice.items)
        charges_amount = sum(int(c.amount) for c in charges)
        charges_paid = sum(int(c.paid_amount) for c in charges)
        if not amount == items_total == charges_amount or paid != charges_paid:
            yield Violation(
                "invoice_totals",
                key,
                f"amount {amount}, items {items_total}, charges {charges_amount}; "
                f"paid {paid}, charges paid {charges_paid}",
            )
        if status != ("paid" if paid >= amount else "open"):
            yield Violation("invoice_status", key, f"status {status} with {paid} of {amount} paid")
        credit_taken = payments.pop(CREDIT_PAYMENT_KEY, 0)
        expected = {k: v for k, v in by_posting.get(invoice_id, {}).items() if v}
        if payments != expected:
            yield Violation("invoice_payments", key, f"payments {payments} != live allocations {expected}")
        posted = sum(expected.values())
        if credit_taken != charges_paid - posted:
            yield Violation(
                "invoice_payments",
                key,
                f"credit taken {credit_taken} != charges paid {charges_paid} - posted {posted}",
            )


# ---------------------------------------------------------------------- apartment credit
def _credit(t: _Tables) -> Iterable[Violation]:
    expected: dict[str, int] = defaultdict(int)
    for posting in t.postings.values():
        if posting.reversed_at is None:
            expected[posting.apartment_id] += int(posting.credit_added)
    for invoice in t.invoices.values():
        taken = (invoice.payments.as_dict() if invoice.payments else {}).get(CREDIT_PAYMENT_KEY, 0)
        expected[invoice.apartment_id] -= int(taken)
    for apartment_id, apartment in t.apartments.items():
        credit = int(apartment.credit)
        if credit != expected[apartment_id]:
            yield Violation(
                "apartment_credit",
                f"apartment#{apartment_id}",
                f"credit {credit} != postings' credit - credit taken {expected[apartment_id]}",
            )


# ---------------------------------------------------------------------- reservations
def _reservations(t: _Tables, now: int, grace_ms: int) -> Iterable[Violation]:
    for invoice_id, invoice in t.invoices.items():
        holder = invoice.active_payment
        if holder is None:
            continue
        key = f"invoice#{invoice_id}"
        provider = PaymentKey.provider_of(holder)
        if provider == "payme":
            payme = t.payme.get(holder)
            alive = payme is not None and int(payme.state) == CREATED
        elif provider == "click":
            click = t.click.get(holder)
            alive = click is not None and click.state == TxState.PREPARED.value
        else:
            alive = False
        if not alive:
            yield Violation("reservation_dead", key, f"held by {holder}, which is no longer a live attempt")
            continue
        since = invoice.active_payment_at
        ttl = RESERVATION_TTL_MS.get(provider or "")
        if ttl is not None and since is not None and now - int(since) > ttl + grace_ms:
            yield Violation("reservation_stale", key, f"held by {holder} since {int(since)}, past its TTL")


def main() -> int:
    violations = check_ledger()
    for violation in violations:
        print(violation)
    print(f"{len(violations)} violation(s)", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
