"""The ledger invariant checker (tolov.reconciliation.invariants): a store after real flows of every kind has
no violation; each kind of corruption, written as bad rows, is reported under its kind and key."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.autopay_support import build_world
from tests.click_support import ClickStack, click_stack, complete_form, next_trans_id, prepare_form
from tests.payme_harness import Harness, gas, make_harness, water
from tolov.billing.keys import PaymentKey
from tolov.billing.reservations import RESERVATION_TTL_MS
from tolov.clock import now_ms
from tolov.reconciliation.invariants import DEFAULT_GRACE_MS, Violation, check_ledger
from tolov.store.autopay_models import AutopayPeriodRecord
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Apartment, Charge, Invoice, Posting
from tolov.store.payme_models import PaymeTransactionRecord


@dataclass
class Flows:
    payme: Harness
    click: ClickStack
    performed_invoice: str  # paid by a Payme transaction
    payme_invoice_tx: str  # that transaction
    topup_tx: str  # a Payme apartment top-up leaving credit on apt-1
    refunded_tx: str  # a Payme apartment top-up cancelled after perform
    open_invoice: str  # reserved by a live Payme transaction
    open_tx: str
    click_invoice: str  # paid by a Click attempt
    click_tx: str
    autopay_receipt: str  # posting key of an autopay receipt


@pytest.fixture
def flows(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Flows]:
    """Every kind of row the ledger writes, by the real code paths: Payme invoice and apartment payments,
    a refund, a live reservation, a cancelled attempt, invoices paid from credit, Click, autopay."""
    with click_stack(local_config, monkeypatch) as stack:
        h = make_harness()
        h.clock.now = now_ms()
        invoice_id, amount = h.invoice(water(), gas())
        h.create("a" * 24, amount, {"order_id": invoice_id})
        h.result("PerformTransaction", {"id": "a" * 24})
        h.create("b" * 24, 9_000_000, {"apartment_id": "apt-1"})  # more than owed: credit
        h.result("PerformTransaction", {"id": "b" * 24})
        h.invoice(water(), apartment_id="apt-1")  # paid from that credit, all of it
        h.create("c" * 24, 500_000, {"apartment_id": "apt-1"})
        h.result("PerformTransaction", {"id": "c" * 24})
        h.result("CancelTransaction", {"id": "c" * 24, "reason": 5})
        cancelled_invoice, cancelled_amount = h.invoice(gas(), apartment_id="apt-2")
        h.create("d" * 24, cancelled_amount, {"order_id": cancelled_invoice})
        h.result("CancelTransaction", {"id": "d" * 24, "reason": 3})
        open_invoice, open_amount = h.invoice(water(), apartment_id="apt-2")
        h.create("e" * 24, open_amount, {"order_id": open_invoice})

        click_invoice = stack.invoice(1_500_000, apartment_id="apt-3")
        ctid = next_trans_id()
        pid = stack.prepare(prepare_form(ctid, click_invoice, "15000.00"))["merchant_prepare_id"]
        assert stack.complete(complete_form(ctid, click_invoice, "15000.00", pid))["error"] == 0
        cancelled = next_trans_id()
        stack.billing.put_apartment("apt-4", "Flat", "r")
        pid = stack.prepare(prepare_form(cancelled, "apt-4", "2000"))["merchant_prepare_id"]
        assert stack.complete(complete_form(cancelled, "apt-4", "2000", pid, error="-5017"))["error"] == -9

        world = build_world()
        world.apartment("apt-5", [water(), gas()])
        autopay_id = world.enrol("apt-5").autopay.autopay_id
        world.charge(autopay_id)
        [receipt] = world.fake.receipts.values()
        yield Flows(
            h,
            stack,
            invoice_id,
            "a" * 24,
            "b" * 24,
            "c" * 24,
            open_invoice,
            "e" * 24,
            click_invoice,
            ctid,
            str(PaymentKey("payme", receipt.id)),
        )


def kinds(violations: list[Violation]) -> set[tuple[str, str]]:
    return {(v.kind, v.key) for v in violations}


def test_a_store_after_real_flows_has_no_violation(flows: Flows) -> None:
    assert check_ledger() == []


def payme_key(payme_id: str) -> str:
    return f"payme#{payme_id}"


def corrupt_a_performed_transaction_with_no_posting(f: Flows) -> set[tuple[str, str]]:
    Posting(payme_key(f.payme_invoice_tx)).delete()
    return {
        ("posting_missing", payme_key(f.payme_invoice_tx)),
        ("invoice_payments", f"invoice#{f.performed_invoice}"),  # it lists a payment that is not there
    }


def corrupt_the_amount_of_a_posting(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.payme_invoice_tx)
    Posting(key).update(actions=[Posting.amount.add(1)])
    return {("posting_amount", key), ("posting_sum", key)}


def corrupt_a_refund_whose_posting_is_live(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.refunded_tx)
    Posting(key).update(actions=[Posting.reversed_at.remove(), Posting.reversal_reason.remove()])
    # The live posting's credit is then not in the apartment's credit either.
    return {("posting_not_reversed", key), ("apartment_credit", "apartment#apt-1")}


def corrupt_a_reversal_half_written(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.refunded_tx)
    Posting(key).update(actions=[Posting.reversal_reason.remove()])
    return {("reversal_fields", key)}


def corrupt_a_posting_with_no_provider_row(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.topup_tx)
    PaymeTransactionRecord(key).delete()
    return {("posting_orphan", key)}


def corrupt_a_posting_of_a_live_transaction(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.topup_tx)
    PaymeTransactionRecord(key).update(actions=[PaymeTransactionRecord.state.set(1)])
    return {("posted_not_performed", key)}


def corrupt_a_confirmed_click_attempt_with_no_posting(f: Flows) -> set[tuple[str, str]]:
    key = f"click#{f.click_tx}"
    Posting(key).update(actions=[Posting.reversed_at.set(1), Posting.reversal_reason.set("x")])
    return {("posting_missing", key), ("invoice_payments", f"invoice#{f.click_invoice}")}


def corrupt_an_unconfirmed_click_attempt_with_a_posting(f: Flows) -> set[tuple[str, str]]:
    key = f"click#{f.click_tx}"
    ClickTransaction(key).update(actions=[ClickTransaction.state.set("cancelled")])
    return {("posted_not_performed", key)}


def corrupt_an_allocation_to_a_missing_charge(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.payme_invoice_tx)
    posting = Posting.get(key)
    allocation = posting.allocations[0]
    Charge(posting.apartment_id, allocation.charge_key).delete()
    return {
        ("allocation_orphan", key),
        ("invoice_totals", f"invoice#{allocation.invoice_id}"),
        ("invoice_payments", f"invoice#{allocation.invoice_id}"),
    }


def corrupt_an_overpaid_charge(f: Flows) -> set[tuple[str, str]]:
    invoice = Invoice.get(f.open_invoice)
    charge_key = invoice.items[0].charge_key
    Charge(invoice.apartment_id, charge_key).update(
        actions=[Charge.paid_amount.set(int(invoice.amount) + 1), Charge.unpaid.set(-1)]
    )
    return {
        ("charge_amounts", f"{invoice.apartment_id}/{charge_key}"),
        ("invoice_totals", f"invoice#{f.open_invoice}"),
        ("invoice_payments", f"invoice#{f.open_invoice}"),
    }


def corrupt_a_charge_paid_less_than_allocated(f: Flows) -> set[tuple[str, str]]:
    invoice = Invoice.get(f.performed_invoice)
    charge = Charge.get(invoice.apartment_id, invoice.items[0].charge_key)
    Charge(invoice.apartment_id, charge.charge_key).update(
        actions=[Charge.paid_amount.add(-1), Charge.unpaid.add(1)]
    )
    return {
        ("charge_allocations", f"{invoice.apartment_id}/{charge.charge_key}"),
        ("invoice_totals", f"invoice#{f.performed_invoice}"),
        ("invoice_payments", f"invoice#{f.performed_invoice}"),
    }


def corrupt_an_invoice_status(f: Flows) -> set[tuple[str, str]]:
    Invoice(f.performed_invoice).update(actions=[Invoice.status.set("open")])
    return {("invoice_status", f"invoice#{f.performed_invoice}")}


def corrupt_a_cancelled_invoice_with_charges(f: Flows) -> set[tuple[str, str]]:
    Invoice(f.performed_invoice).update(actions=[Invoice.status.set("cancelled")])
    return {("invoice_status", f"invoice#{f.performed_invoice}")}


def corrupt_an_invoice_payment_entry(f: Flows) -> set[tuple[str, str]]:
    Invoice(f.performed_invoice).update(actions=[Invoice.payments[payme_key("z" * 24)].set(1)])
    return {("invoice_payments", f"invoice#{f.performed_invoice}")}


def corrupt_the_apartment_credit(f: Flows) -> set[tuple[str, str]]:
    Apartment("apt-1").update(actions=[Apartment.credit.add(7)])
    return {("apartment_credit", "apartment#apt-1")}


def corrupt_a_reservation_held_by_a_cancelled_transaction(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.open_tx)
    PaymeTransactionRecord(key).update(actions=[PaymeTransactionRecord.state.set(-1)])
    return {("reservation_dead", f"invoice#{f.open_invoice}")}


def corrupt_a_reservation_held_past_its_time(f: Flows) -> set[tuple[str, str]]:
    long_ago = now_ms() - RESERVATION_TTL_MS["payme"] - DEFAULT_GRACE_MS - 1
    Invoice(f.open_invoice).update(actions=[Invoice.active_payment_at.set(long_ago)])
    return {("reservation_stale", f"invoice#{f.open_invoice}")}


def corrupt_a_paid_autopay_period_with_no_posting(f: Flows) -> set[tuple[str, str]]:
    [period] = [p for p in AutopayPeriodRecord.scan(AutopayPeriodRecord.sk.startswith("period#"))]
    posting = Posting.get(f.autopay_receipt)
    Posting(f.autopay_receipt).delete()
    return {
        ("autopay_unposted", f"{period.autopay_id}/{period.sk}"),
        *{("invoice_payments", f"invoice#{a.invoice_id}") for a in posting.allocations},
    }


def corrupt_a_posting_whose_parts_do_not_add_up(f: Flows) -> set[tuple[str, str]]:
    key = payme_key(f.topup_tx)
    Posting(key).update(actions=[Posting.credit_added.add(1)])
    return {("posting_sum", key), ("apartment_credit", "apartment#apt-1")}


CORRUPTIONS: list[Callable[[Flows], set[tuple[str, str]]]] = [
    corrupt_a_performed_transaction_with_no_posting,
    corrupt_the_amount_of_a_posting,
    corrupt_a_refund_whose_posting_is_live,
    corrupt_a_reversal_half_written,
    corrupt_a_posting_with_no_provider_row,
    corrupt_a_posting_of_a_live_transaction,
    corrupt_a_confirmed_click_attempt_with_no_posting,
    corrupt_an_unconfirmed_click_attempt_with_a_posting,
    corrupt_an_allocation_to_a_missing_charge,
    corrupt_an_overpaid_charge,
    corrupt_a_charge_paid_less_than_allocated,
    corrupt_an_invoice_status,
    corrupt_a_cancelled_invoice_with_charges,
    corrupt_an_invoice_payment_entry,
    corrupt_the_apartment_credit,
    corrupt_a_reservation_held_by_a_cancelled_transaction,
    corrupt_a_reservation_held_past_its_time,
    corrupt_a_paid_autopay_period_with_no_posting,
    corrupt_a_posting_whose_parts_do_not_add_up,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda c: c.__name__.removeprefix("corrupt_"))
def test_each_corruption_is_reported_under_its_kind(
    flows: Flows, corrupt: Callable[[Flows], set[tuple[str, str]]]
) -> None:
    expected = corrupt(flows)
    assert kinds(check_ledger()) == expected


def test_every_kind_of_violation_is_covered_by_a_corruption() -> None:
    """The checker's kinds (its docstring's list) each have a test above that makes one."""
    import tolov.reconciliation.invariants as invariants

    documented = {
        line.split()[0]
        for line in (invariants.__doc__ or "").splitlines()
        if line.startswith("  ") and not line.startswith("   ") and line.split()
    }
    made = {
        "posting_missing", "posting_amount", "posting_not_reversed", "posted_not_performed", "posting_orphan",
        "autopay_unposted", "posting_sum", "allocation_orphan", "charge_amounts", "charge_allocations",
        "invoice_totals", "invoice_status", "invoice_payments", "apartment_credit", "reservation_dead",
        "reservation_stale", "reversal_fields",
    }  # fmt: skip
    assert documented == made


def test_the_command_line_prints_the_violations_and_exits_1(
    flows: Flows, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() of python -m tolov.reconciliation.invariants, against moto in this process."""
    from tolov.reconciliation import invariants

    assert invariants.main() == 0
    assert capsys.readouterr().out == ""
    Apartment("apt-1").update(actions=[Apartment.credit.add(7)])
    assert invariants.main() == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("apartment_credit\tapartment#apt-1\t")
