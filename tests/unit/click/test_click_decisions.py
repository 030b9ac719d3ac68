"""Every SHOP-API decision, table-driven, through the shop core on two stores: DynamoDB (moto) and the
in-memory fakes (no moto), with the same assertions on both.

Each case builds its situation with earlier requests or billing calls, then sends one request and checks
the code, the id in the reply and what was (not) written. The last tests are about what the DynamoDB
adapter writes (the attempt row, the prepare id's alias) and run on moto only.
"""

from collections.abc import Callable
from typing import Any

import botocore.client
import pytest

from tests.click_support import SERVICE_ID, complete_form, item, next_trans_id, prepare_form
from tests.fakes import FakeClickRepository, FakeLedger, FakeReversalQueue
from tolov.billing.invoices import Billing
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.click.attempt import TxState
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.errors import ShopError
from tolov.click.request import Action
from tolov.click.shop_api import ClickResult, ClickShop
from tolov.money import sum_str_to_tiyin
from tolov.store.click_models import ClickPrepareAlias, ClickTransaction

INVOICE_SUM = "15000.00"  # 1_500_000 tiyin
DYNAMODB, FAKES = "dynamodb", "fakes"


class Harness:
    """The shop on DynamoDB (inside the `aws` fixture) or on the fakes; its store read alike on both."""

    def __init__(self, store: str, cancel_after_confirm: int = -4) -> None:
        self.now = 1_777_000_000_000
        self.queue = FakeReversalQueue()
        self.ledger: Ledger | FakeLedger
        self.billing: Billing | FakeLedger
        self.repository: DynamoClickRepository | FakeClickRepository
        if store == FAKES:
            self.ledger = self.billing = FakeLedger(self.clock)
            self.repository = FakeClickRepository(self.ledger)
        else:
            self.ledger = Ledger(self.clock)
            self.billing = Billing(self.clock, self.ledger)
            self.repository = DynamoClickRepository(self.ledger)
        self.shop = ClickShop(
            self.repository,
            self.queue,
            service_id=SERVICE_ID,
            secret_key=lambda: "local-click-secret",
            cancel_after_confirm=cancel_after_confirm,
            clock=self.clock,
        )
        self.billing.put_apartment("apt-1", "Flat 1", "resident-1")
        invoice = self.billing.create_invoice("apt-1", "2026-05", [item("water", 1_500_000)])
        self.invoice_id = invoice.invoice_id

    def clock(self) -> int:
        self.now += 1
        return self.now

    def prepare(
        self, ctid: str, account: str | None = None, amount: str = INVOICE_SUM, **kw: Any
    ) -> ClickResult:
        return self.shop.handle(prepare_form(ctid, account or self.invoice_id, amount, **kw), Action.PREPARE)

    def complete(
        self, ctid: str, prepare_id: Any, account: str | None = None, amount: str = INVOICE_SUM, **kw: Any
    ) -> ClickResult:
        fields = complete_form(ctid, account or self.invoice_id, amount, prepare_id, **kw)
        return self.shop.handle(fields, Action.COMPLETE)

    def prepared(self, account: str | None = None, amount: str = INVOICE_SUM) -> tuple[str, int]:
        ctid = next_trans_id()
        result = self.prepare(ctid, account, amount)
        assert result.error == 0, result.reply
        return ctid, result.reply["merchant_prepare_id"]

    def confirmed(self, account: str | None = None, amount: str = INVOICE_SUM) -> tuple[str, int]:
        ctid, pid = self.prepared(account, amount)
        assert self.complete(ctid, pid, account, amount).error == 0
        return ctid, pid

    def row(self, ctid: str) -> Any:
        """The stored attempt (a ClickTransaction or a FakeClickRecord: the same attributes), or None."""
        if isinstance(self.repository, FakeClickRepository):
            return self.repository.record(ctid)
        try:
            return ClickTransaction.get(f"click#{ctid}")
        except ClickTransaction.DoesNotExist:
            return None

    def state(self, ctid: str) -> str:
        row = self.row(ctid)
        assert row is not None, ctid
        return str(row.state)

    def invoice(self) -> Any:
        return self.ledger.invoice(self.invoice_id)

    def holder(self) -> str | None:
        holder: str | None = self.invoice().active_payment
        return holder

    def posting(self, ctid: str) -> Any:
        """The ledger's posting of this attempt (a Posting or a FakePosting), or None."""
        return self.ledger.posting(f"click#{ctid}")


@pytest.fixture(params=[DYNAMODB, FAKES])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == DYNAMODB:
        request.getfixturevalue("aws")
    return str(request.param)


Case = Callable[[Harness], tuple[ClickResult, Callable[[], None] | None]]


def _p_ok(h: Harness) -> Any:
    ctid = next_trans_id()
    return h.prepare(ctid), lambda: h.holder() == f"click#{ctid}" or pytest.fail("not reserved")


def _p_ok_integer_amount(h: Harness) -> Any:
    return h.prepare(next_trans_id(), amount="15000"), None


def _p_unknown(h: Harness) -> Any:
    return h.prepare(next_trans_id(), "no-such-account"), None


def _p_paid(h: Harness) -> Any:
    h.confirmed()
    return h.prepare(next_trans_id()), None


def _p_cancelled(h: Harness) -> Any:
    h.billing.cancel_invoice(h.invoice_id)
    return h.prepare(next_trans_id()), None


def _p_amount(h: Harness) -> Any:
    ctid = next_trans_id()
    return h.prepare(ctid, amount="14999.99"), lambda: _absent(h, ctid)


def _p_apartment_zero(h: Harness) -> Any:
    return h.prepare(next_trans_id(), "apt-1", "0"), None


def _p_apartment(amount: str) -> Case:
    """A top-up Prepare; outside the apartment limits (1 000 to 50 000 000 sum, as for Payme) nothing is
    written."""

    def case(h: Harness) -> Any:
        ctid = next_trans_id()
        result = h.prepare(ctid, "apt-1", amount)
        return result, None if result.error == 0 else (lambda: _absent(h, ctid))

    return case


def _p_click_error(h: Harness) -> Any:
    ctid = next_trans_id()
    return h.prepare(ctid, error="-5017"), lambda: _absent(h, ctid)


def _p_repeat(h: Harness) -> Any:
    ctid, pid = h.prepared()
    result = h.prepare(ctid)
    return result, lambda: _equal(result.reply["merchant_prepare_id"], pid)


def _p_repeat_confirmed_apartment(h: Harness) -> Any:
    ctid, _ = h.confirmed("apt-1", "1000")
    return h.prepare(ctid, "apt-1", "1000"), None


def _p_repeat_cancelled(h: Harness) -> Any:
    ctid, pid = h.prepared()
    h.complete(ctid, pid, error="-5017")
    return h.prepare(ctid), None


def _p_repeat_other_account(h: Harness) -> Any:
    ctid, _ = h.prepared("apt-1", "1000")
    return h.prepare(ctid), None


def _p_repeat_other_amount(h: Harness) -> Any:
    ctid, _ = h.prepared("apt-1", "1000")
    return h.prepare(ctid, "apt-1", "1100"), None


def _p_held_by_payme(h: Harness) -> Any:
    h.ledger.lock_invoice(PaymentKey("payme", "p-1"), h.invoice_id, 1_500_000)
    ctid = next_trans_id()
    result = h.prepare(ctid)

    def check() -> None:
        # Not -4: that tells Click the order is paid, and it is not. Nothing is debited at Prepare yet.
        assert result.reply["error_note"] == "Another payment for this order is in progress"
        assert h.holder() == "payme#p-1"
        _absent(h, ctid)

    return result, check


def _p_supersedes(h: Harness) -> Any:
    old, _ = h.prepared()
    new = next_trans_id()
    result = h.prepare(new)

    def check() -> None:
        assert h.holder() == f"click#{new}"
        assert h.state(old) == "cancelled"
        assert h.row(old).reason == f"superseded by click#{new}"

    return result, check


def _p_bad_sign(h: Harness) -> Any:
    ctid = next_trans_id()
    return h.prepare(ctid, bad_sign=True), lambda: _absent(h, ctid)


def _p_wrong_secret(h: Harness) -> Any:
    return h.prepare(next_trans_id(), secret="someone-elses-secret"), None


def _p_foreign_service(h: Harness) -> Any:
    return h.prepare(next_trans_id(), service_id="54321"), None


def _p_missing(h: Harness) -> Any:
    fields = prepare_form(next_trans_id(), h.invoice_id, INVOICE_SUM)
    del fields["sign_time"]
    return h.shop.handle(fields, Action.PREPARE), None


def _p_complete_posted_to_prepare(h: Harness) -> Any:
    ctid, pid = h.prepared()
    fields = complete_form(ctid, h.invoice_id, INVOICE_SUM, pid)
    result = h.shop.handle(fields, Action.PREPARE)
    return result, lambda: _equal(h.state(ctid), "prepared")


def _p_unknown_action(h: Harness) -> Any:
    return h.shop.handle(prepare_form(next_trans_id(), h.invoice_id, INVOICE_SUM), None), None


def _c_ok_invoice(h: Harness) -> Any:
    ctid, pid = h.prepared()
    result = h.complete(ctid, pid)

    def check() -> None:
        assert result.reply["merchant_confirm_id"] == pid
        assert h.invoice().status == "paid"
        assert h.holder() is None
        assert h.posting(ctid).amount == 1_500_000
        assert h.state(ctid) == "confirmed"

    return result, check


def _c_ok_apartment(h: Harness) -> Any:
    ctid, pid = h.prepared("apt-1", "20000.50")
    result = h.complete(ctid, pid, "apt-1", "20000.5")  # same amount, other spelling

    def check() -> None:
        # The invoice's 15000 is paid first; the rest becomes credit.
        assert h.billing.balance("apt-1").credit == 2_000_050 - 1_500_000

    return result, check


def _c_unknown_account(h: Harness) -> Any:
    ctid, pid = h.prepared()
    return h.complete(ctid, pid, "no-such-account"), None


def _c_unknown_prepare_id(h: Harness) -> Any:
    ctid, pid = h.prepared()
    return h.complete(ctid, pid + 1000), lambda: _equal(h.state(ctid), "prepared")


def _c_never_prepared(h: Harness) -> Any:
    return h.complete(next_trans_id(), 1), None


def _c_prepare_id_of_another_attempt(h: Harness) -> Any:
    """Matched by prepare id and account: the other attempt's Complete, although it carries this one's id."""
    ctid, _ = h.prepared("apt-1", "1000")
    other, other_pid = h.prepared("apt-1", "1000")
    result = h.complete(ctid, other_pid, "apt-1", "1000")

    def check() -> None:
        assert (h.state(other), h.state(ctid)) == ("confirmed", "prepared")
        assert h.row(other).complete_click_trans_id == ctid
        assert int(h.posting(other).amount) == 100_000
        _no_posting(h, ctid)

    return result, check


def _c_under_another_click_trans_id(h: Harness, account: str | None = None, amount: str = INVOICE_SUM) -> Any:
    """Some testers complete under a click_trans_id other than the Prepare's: with our prepare id, the
    account and the amount it is that attempt's Complete, confirmed once under the attempt's posting key."""
    ctid, pid = h.prepared(account, amount)
    other = next_trans_id()
    result = h.complete(other, pid, account, amount)

    def check() -> None:
        assert (result.reply["click_trans_id"], result.reply["merchant_confirm_id"]) == (int(other), pid)
        row = h.row(ctid)
        assert (row.state, row.complete_click_trans_id) == ("confirmed", other)
        assert int(h.posting(ctid).amount) == sum_str_to_tiyin(amount)
        _no_posting(h, other)
        _absent(h, other)
        # Repeats, under either id, are repeats of a confirmed payment; nothing is posted again.
        assert h.complete(other, pid, account, amount).error == ShopError.ALREADY_PAID
        assert h.complete(ctid, pid, account, amount).error == ShopError.ALREADY_PAID
        _no_posting(h, other)

    return result, check


def _c_under_another_click_trans_id_apartment(h: Harness) -> Any:
    return _c_under_another_click_trans_id(h, "apt-1", "1000")


def _c_cancel_under_another_click_trans_id(h: Harness) -> Any:
    ctid, pid = h.prepared()
    other = next_trans_id()
    result = h.complete(other, pid, error="-5017")

    def check() -> None:
        row = h.row(ctid)
        assert (row.state, row.complete_click_trans_id, row.click_error) == ("cancelled", other, -5017)
        assert h.holder() is None
        _absent(h, other)

    return result, check


def _c_under_another_click_trans_id_other_account(h: Harness) -> Any:
    ctid, pid = h.prepared("apt-1", "1000")
    other = next_trans_id()
    return h.complete(other, pid, h.invoice_id, "1000"), lambda: _equal(h.state(ctid), "prepared")


def _c_bound_to_another_account(h: Harness) -> Any:
    ctid, pid = h.prepared("apt-1", "1000")
    return h.complete(ctid, pid, h.invoice_id, "1000"), None


def _c_repeat(h: Harness) -> Any:
    ctid, pid = h.confirmed()
    return h.complete(ctid, pid), None


def _c_cancel_after_confirm(h: Harness) -> Any:
    ctid, pid = h.confirmed()
    result = h.complete(ctid, pid, error="-5017")

    def check() -> None:
        assert h.invoice().status == "paid"
        assert h.posting(ctid).reversed_at is None
        assert h.state(ctid) == "confirmed"

    return result, check


def _c_cancel(h: Harness) -> Any:
    ctid, pid = h.prepared()
    result = h.complete(ctid, pid, error="-5017", error_note="Insufficient funds")

    def check() -> None:
        row = h.row(ctid)
        assert (row.state, row.click_error, row.reason) == ("cancelled", -5017, "click error -5017")
        assert h.holder() is None
        assert h.invoice().status == "open"

    return result, check


def _c_any_negative_error_cancels(h: Harness) -> Any:
    ctid, pid = h.prepared()
    return h.complete(ctid, pid, error="-1"), lambda: _equal(h.state(ctid), "cancelled")


def _c_cancel_with_wrong_amount_still_cancels(h: Harness) -> Any:
    ctid, pid = h.prepared()
    return h.complete(ctid, pid, amount="1", error="-5017"), lambda: _equal(h.state(ctid), "cancelled")


def _c_confirm_after_cancel(h: Harness) -> Any:
    ctid, pid = h.prepared()
    h.complete(ctid, pid, error="-5017")
    return h.complete(ctid, pid), lambda: _no_posting(h, ctid)


def _c_amount(under_another_click_trans_id: bool) -> Case:
    def case(h: Harness) -> Any:
        ctid, pid = h.prepared()
        sent_as = next_trans_id() if under_another_click_trans_id else ctid
        result = h.complete(sent_as, pid, amount="14999.99")

        def check() -> None:
            assert h.state(ctid) == "prepared" and h.holder() == f"click#{ctid}"
            assert h.complete(sent_as, pid).error == 0  # the right amount still goes through

        return result, check

    return case


def _c_superseded(h: Harness) -> Any:
    old, old_pid = h.prepared()
    new, new_pid = h.prepared()
    result = h.complete(old, old_pid)

    def check() -> None:
        _no_posting(h, old)
        assert h.complete(new, new_pid).error == 0

    return result, check


def _c_bad_sign(h: Harness) -> Any:
    ctid, pid = h.prepared()
    return h.complete(ctid, pid, bad_sign=True), lambda: _no_posting(h, ctid)


def _c_prepare_posted_to_complete(h: Harness) -> Any:
    ctid, pid = h.prepared()
    fields = prepare_form(ctid, h.invoice_id, INVOICE_SUM, prepare_id=pid)
    return h.shop.handle(fields, Action.COMPLETE), lambda: _no_posting(h, ctid)


def _c_missing_prepare_id(h: Harness) -> Any:
    ctid, _ = h.prepared()
    return h.complete(ctid, None), None


def _absent(h: Harness, ctid: str) -> None:
    assert h.row(ctid) is None, ctid


def _no_posting(h: Harness, ctid: str) -> None:
    assert h.posting(ctid) is None, ctid


def _equal(got: Any, expected: Any) -> None:
    assert got == expected


NOT_FOUND = ShopError.TRANSACTION_DOES_NOT_EXIST
CANCELLED = ShopError.TRANSACTION_CANCELLED

CASES: list[tuple[str, Case, ShopError]] = [
    ("prepare invoice", _p_ok, ShopError.SUCCESS),
    ("prepare with an integer amount string", _p_ok_integer_amount, ShopError.SUCCESS),
    ("prepare unknown account", _p_unknown, ShopError.USER_DOES_NOT_EXIST),
    ("prepare paid invoice", _p_paid, ShopError.ALREADY_PAID),
    ("prepare cancelled invoice", _p_cancelled, CANCELLED),
    ("prepare amount mismatch", _p_amount, ShopError.INCORRECT_AMOUNT),
    ("prepare zero to an apartment", _p_apartment_zero, ShopError.INCORRECT_AMOUNT),
    ("prepare 0.01 sum to an apartment", _p_apartment("0.01"), ShopError.INCORRECT_AMOUNT),
    ("prepare below the apartment minimum", _p_apartment("999.99"), ShopError.INCORRECT_AMOUNT),
    ("prepare the apartment minimum", _p_apartment("1000"), ShopError.SUCCESS),
    ("prepare the apartment maximum", _p_apartment("50000000.00"), ShopError.SUCCESS),
    ("prepare above the apartment maximum", _p_apartment("50000000.01"), ShopError.INCORRECT_AMOUNT),
    ("prepare with Click error", _p_click_error, CANCELLED),
    ("repeated prepare", _p_repeat, ShopError.SUCCESS),
    ("repeated prepare after confirm", _p_repeat_confirmed_apartment, ShopError.ALREADY_PAID),
    ("repeated prepare after cancel", _p_repeat_cancelled, CANCELLED),
    ("repeated prepare, other account", _p_repeat_other_account, NOT_FOUND),
    ("repeated prepare, other amount", _p_repeat_other_amount, ShopError.INCORRECT_AMOUNT),
    ("prepare while Payme holds the invoice", _p_held_by_payme, ShopError.FAILED_TO_UPDATE_USER),
    ("newer prepare supersedes", _p_supersedes, ShopError.SUCCESS),
    ("prepare bad sign", _p_bad_sign, ShopError.SIGN_CHECK_FAILED),
    ("prepare signed with another secret", _p_wrong_secret, ShopError.SIGN_CHECK_FAILED),
    ("prepare for another service", _p_foreign_service, ShopError.SIGN_CHECK_FAILED),
    ("prepare missing field", _p_missing, ShopError.BAD_REQUEST),
    ("complete posted to the prepare URL", _p_complete_posted_to_prepare, ShopError.ACTION_NOT_FOUND),
    ("prepare on a shared URL", _p_unknown_action, ShopError.SUCCESS),
    ("complete invoice", _c_ok_invoice, ShopError.SUCCESS),
    ("complete apartment", _c_ok_apartment, ShopError.SUCCESS),
    ("complete unknown account", _c_unknown_account, ShopError.USER_DOES_NOT_EXIST),
    ("complete unknown prepare id", _c_unknown_prepare_id, NOT_FOUND),
    ("complete never prepared", _c_never_prepared, NOT_FOUND),
    ("complete with another attempt's prepare id", _c_prepare_id_of_another_attempt, ShopError.SUCCESS),
    ("complete under another click_trans_id", _c_under_another_click_trans_id, ShopError.SUCCESS),
    (
        "complete under another click_trans_id, apartment",
        _c_under_another_click_trans_id_apartment,
        ShopError.SUCCESS,
    ),
    ("cancel under another click_trans_id", _c_cancel_under_another_click_trans_id, CANCELLED),
    ("complete under another click_trans_id, other amount", _c_amount(True), ShopError.INCORRECT_AMOUNT),
    (
        "complete under another click_trans_id, other account",
        _c_under_another_click_trans_id_other_account,
        NOT_FOUND,
    ),
    ("complete for another account", _c_bound_to_another_account, NOT_FOUND),
    ("repeated complete", _c_repeat, ShopError.ALREADY_PAID),
    ("cancel after confirm (legacy)", _c_cancel_after_confirm, ShopError.ALREADY_PAID),
    ("cancel", _c_cancel, CANCELLED),
    ("cancel with error -1", _c_any_negative_error_cancels, CANCELLED),
    ("cancel with a wrong amount", _c_cancel_with_wrong_amount_still_cancels, CANCELLED),
    ("confirm after cancel", _c_confirm_after_cancel, CANCELLED),
    ("complete amount mismatch", _c_amount(False), ShopError.INCORRECT_AMOUNT),
    ("late complete of a superseded attempt", _c_superseded, CANCELLED),
    ("complete bad sign", _c_bad_sign, ShopError.SIGN_CHECK_FAILED),
    ("prepare posted to the complete URL", _c_prepare_posted_to_complete, ShopError.ACTION_NOT_FOUND),
    ("complete without prepare id", _c_missing_prepare_id, ShopError.BAD_REQUEST),
]


@pytest.mark.parametrize(("name", "case", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decision(store: str, name: str, case: Case, expected: ShopError) -> None:
    harness = Harness(store)
    result, check = case(harness)
    assert result.error == expected, result.reply
    assert isinstance(result.reply["error"], int)
    assert result.reply["error_note"]
    if check is not None:
        check()
    assert harness.queue.sent == []  # none of these is a debit the ledger refused


def test_cancel_after_confirm_answers_the_configured_code(store: str) -> None:
    harness = Harness(store, cancel_after_confirm=-9)
    ctid, pid = harness.confirmed()
    assert harness.complete(ctid, pid, error="-5017").error == ShopError.TRANSACTION_CANCELLED
    assert harness.complete(ctid, pid).error == ShopError.ALREADY_PAID
    assert harness.invoice().status == "paid"
    assert harness.posting(ctid).reversed_at is None


def test_reply_shapes(store: str) -> None:
    harness = Harness(store)
    ctid = next_trans_id()
    prepared = harness.prepare(ctid).reply
    assert prepared == {
        "click_trans_id": int(ctid),
        "merchant_trans_id": harness.invoice_id,
        "merchant_prepare_id": prepared["merchant_prepare_id"],
        "error": 0,
        "error_note": "Success",
    }
    assert isinstance(prepared["merchant_prepare_id"], int) and prepared["merchant_prepare_id"] > 0
    completed = harness.complete(ctid, prepared["merchant_prepare_id"]).reply
    assert completed == {
        "click_trans_id": int(ctid),
        "merchant_trans_id": harness.invoice_id,
        "merchant_confirm_id": prepared["merchant_prepare_id"],
        "error": 0,
        "error_note": "Success",
    }
    garbage = harness.shop.handle({"click_trans_id": "x1", "merchant_trans_id": "m"}, Action.COMPLETE).reply
    assert garbage == {
        "click_trans_id": None,
        "merchant_trans_id": "m",
        "merchant_confirm_id": None,
        "error": -8,
        "error_note": "Error in request from click",
    }


def test_prepare_ids_are_distinct_positive_integers(store: str) -> None:
    harness = Harness(store)
    ids = [harness.prepared("apt-1", "1000")[1] for _ in range(5)]
    assert len(set(ids)) == 5 and all(isinstance(i, int) and 0 < i < 2**31 for i in ids)


def test_the_attempt_row_records_what_reconciliation_needs(aws: None) -> None:
    harness = Harness(DYNAMODB)
    ctid, pid = harness.prepared()
    row = ClickTransaction.get(f"click#{ctid}")
    assert row.state == TxState.PREPARED
    assert (row.account, int(row.amount), int(row.prepare_id)) == ("invoice", 1_500_000, pid)
    assert row.day_key.startswith("click#") and int(row.time) == int(row.created_at)


def test_a_prepared_invoice_attempt_that_lost_its_reservation_is_retired(store: str) -> None:
    """Only superseding takes a Click reservation away; if one is gone anyway (an operator released it),
    the attempt is retired and answered -9, so Click cancels the payment instead of us keeping money
    for an invoice the attempt no longer reserves."""
    harness = Harness(store)
    ctid, pid = harness.prepared()
    harness.ledger.release_invoice(PaymentKey("click", ctid), harness.invoice_id)

    assert harness.prepare(ctid).error == ShopError.TRANSACTION_CANCELLED
    row = harness.row(ctid)
    assert (row.state, row.reason) == ("cancelled", "superseded: no longer holds the invoice reservation")
    assert harness.complete(ctid, pid).error == ShopError.TRANSACTION_CANCELLED
    assert harness.posting(ctid) is None


@pytest.mark.parametrize("account_kind", ["invoice", "apartment"])
def test_a_prepare_id_finds_its_attempt_by_key(
    aws: None, monkeypatch: pytest.MonkeyPatch, account_kind: str
) -> None:
    """Prepare writes click#prepare#<id> -> click_trans_id with the attempt; a Complete under another
    click_trans_id reads it and the attempt by key: no Query or Scan of TransactionsTable."""
    harness = Harness(DYNAMODB)
    account, amount = (harness.invoice_id, INVOICE_SUM) if account_kind == "invoice" else ("apt-1", "1000")
    ctid, pid = harness.prepared(account, amount)
    assert ClickPrepareAlias.get(f"click#prepare#{pid}").click_trans_id == ctid

    calls: list[tuple[str, str | None]] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append((operation, params.get("TableName")))
        return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    assert harness.complete(next_trans_id(), pid, account, amount).error == ShopError.SUCCESS
    assert ("GetItem", "TransactionsTable") in calls
    assert not [c for c in calls if c[0] in {"Query", "Scan"} and c[1] == "TransactionsTable"]


def test_the_prepare_id_alias_is_written_with_the_attempt_or_not_at_all(aws: None) -> None:
    """A prepare id whose alias exists already (a random draw that collides) writes no attempt with that
    id: the transaction fails whole and Prepare draws another id."""
    harness = Harness(DYNAMODB)
    assert isinstance(harness.repository, DynamoClickRepository)
    for account, amount in ((harness.invoice_id, INVOICE_SUM), ("apt-1", "1000")):
        taken, fresh = (7_000_001, 7_000_002) if account == "apt-1" else (9_000_001, 9_000_002)
        harness.repository.prepare_ids = iter([taken, fresh]).__next__
        ClickPrepareAlias(f"click#prepare#{taken}", click_trans_id="1").save()
        ctid, pid = harness.prepared(account, amount)
        assert pid == fresh
        assert int(ClickTransaction.get(f"click#{ctid}").prepare_id) == pid
        assert ClickPrepareAlias.get(f"click#prepare#{pid}").click_trans_id == ctid
        assert ClickPrepareAlias.get(f"click#prepare#{taken}").click_trans_id == "1"
