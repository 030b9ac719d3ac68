"""An in-memory Payme Subscribe API for the in-process autopay tests, with Payme's receipt state machine and
fault injection the simulator has no control for (the e2e tests and the benchmark use the simulator itself,
local/subscribe_sim, over HTTP).

Faults are injected per method: `fail_next("receipts.pay", error)` raises before the call does anything;
`lose_reply_next("receipts.pay")` lets the call take effect and then raises SubscribeUnavailable, as a
reply lost on the network does. `merchant` (optional) plays the cashbox's Merchant API endpoint: it is
called like Payme calls our /payme (CheckPerform, Create with the receipt id, Perform or Cancel reason 2).
"""

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tolov.payme.subscribe_api import Card, Receipt, SubscribeError, SubscribeUnavailable
from tolov.payme.subscribe_api import ReceiptState as S

CREATED, PAID, CANCELLED = S.CREATED, S.PAID, S.CANCELLED

OK_CARD = "8600495473316478"
OK_CARD_2 = "8600069195406311"
DEFAULT_BALANCE = 10_000_000 * 100  # 10 000 000 sum, in tiyin

# The cashbox's Merchant API endpoint as Payme calls it: (method, params) -> JSON-RPC reply dict.
MerchantCall = Callable[[str, dict[str, Any]], dict[str, Any]]


def message(text: str) -> dict[str, str]:
    return {"ru": text, "uz": text, "en": text}


@dataclass
class FakeCard:
    number: str
    token: str
    balance: int = DEFAULT_BALANCE
    status: str = "ok"  # ok | expired | blocked | removed
    verify: bool = True
    recurrent: bool = True

    def masked(self) -> str:
        return f"{self.number[:6]}******{self.number[-4:]}"


@dataclass
class FakeReceipt:
    id: str
    amount: int
    account: dict[str, str]
    description: str | None
    detail: dict[str, Any] | None
    state: int = CREATED
    create_time: int = 0
    pay_time: int = 0
    cancel_time: int = 0
    token: str | None = None

    def view(self) -> Receipt:
        raw = {
            "_id": self.id,
            "state": self.state,
            "amount": self.amount,
            "account": [{"name": k, "value": v} for k, v in self.account.items()],
            "create_time": self.create_time,
            "pay_time": self.pay_time,
            "cancel_time": self.cancel_time,
        }
        return Receipt(
            id=self.id,
            state=self.state,
            amount=self.amount,
            create_time=self.create_time,
            pay_time=self.pay_time,
            cancel_time=self.cancel_time,
            account=raw["account"],
            card=None,
            raw=raw,
        )


@dataclass
class FakeSubscribe:
    """Thread-safe; every call is recorded in `calls` (method, params without the token)."""

    merchant: MerchantCall | None = None
    # -31630 for every card or funds refusal (Payme's general code), instead of -31303/-31301.
    general_refusals: bool = False
    cards: dict[str, FakeCard] = field(default_factory=dict)
    receipts: dict[str, FakeReceipt] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _faults: dict[str, list[tuple[str, Exception]]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ the test's controls
    def add_card(self, number: str = OK_CARD, *, token: str | None = None, **fields: Any) -> str:
        token = token or f"tok-{secrets.token_hex(12)}"
        with self._lock:
            self.cards[token] = FakeCard(number, token, **fields)
        return token

    def card_by_number(self, number: str) -> FakeCard:
        return next(c for c in self.cards.values() if c.number == number)

    def fail_next(self, method: str, error: Exception, times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend([("before", error)] * times)

    def lose_reply_next(self, method: str, times: int = 1, *, error: Exception | None = None) -> None:
        """The call takes effect, then the caller sees `error` (a lost reply: SubscribeUnavailable)."""
        with self._lock:
            self._faults.setdefault(method, []).extend(
                [("after", error or SubscribeUnavailable("lost"))] * times
            )

    def set_state(self, receipt_id: str, state: int) -> None:
        with self._lock:
            self.receipts[receipt_id].state = state

    def paid(self) -> list[FakeReceipt]:
        return [r for r in self.receipts.values() if r.state == PAID]

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    # ------------------------------------------------------------------ plumbing
    def _call(self, method: str, params: dict[str, Any], run: Callable[[], Any]) -> Any:
        with self._lock:
            self.calls.append((method, {k: v for k, v in params.items() if k != "token"}))
            queued = self._faults.get(method) or []
            fault = queued.pop(0) if queued else None
        if fault is not None and fault[0] == "before":
            raise fault[1]
        result = run()
        if fault is not None:
            raise fault[1]
        return result

    def _card(self, token: str) -> FakeCard:
        card = self.cards.get(token)
        if card is None or card.status == "removed":
            raise SubscribeError(-31400, message("Card not found"))
        return card

    def _receipt(self, receipt_id: str) -> FakeReceipt:
        receipt = self.receipts.get(receipt_id)
        if receipt is None:
            raise SubscribeError(-31602, message("Receipt not found"))
        return receipt

    def _now(self) -> int:
        return time.time_ns() // 1_000_000

    # ------------------------------------------------------------------ cards
    def cards_check(self, token: str) -> Card:
        def run() -> Card:
            with self._lock:
                card = self._card(token)
                if card.status in ("expired", "blocked"):
                    raise SubscribeError(-31301, message(f"Card {card.status}"))
                return Card(card.masked(), "03/99", token, card.recurrent, card.verify, "22618")

        result: Card = self._call("cards.check", {"token": token}, run)
        return result

    def cards_remove(self, token: str) -> bool:
        def run() -> bool:
            with self._lock:
                self._card(token).status = "removed"
            return True

        result: bool = self._call("cards.remove", {"token": token}, run)
        return result

    # ------------------------------------------------------------------ receipts
    def receipts_create(
        self,
        amount: int,
        account: dict[str, str],
        *,
        description: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Receipt:
        params = {"amount": amount, "account": account, "description": description, "detail": detail}

        def run() -> Receipt:
            if not isinstance(amount, int) or amount <= 0:
                raise SubscribeError(-31611, message("Amount too small"))
            with self._lock:
                receipt_id = f"{next(self._ids):08x}{secrets.token_hex(8)}"
                receipt = FakeReceipt(receipt_id, amount, dict(account), description, detail)
                receipt.create_time = self._now()
                self.receipts[receipt_id] = receipt
                return receipt.view()

        result: Receipt = self._call("receipts.create", params, run)
        return result

    def receipts_pay(self, receipt_id: str, token: str, *, payer: dict[str, Any] | None = None) -> Receipt:
        def run() -> Receipt:
            with self._lock:
                receipt = self._receipt(receipt_id)
                if receipt.state != CREATED:
                    raise SubscribeError(-31630 if receipt.state == PAID else -32400, message("Bad state"))
                card = self._card(token)
                refusal = self._refusal(card, receipt.amount)
                receipt.state = 1
            if self.merchant is not None and not self._merchant_accepts(receipt):
                with self._lock:
                    receipt.state = CREATED
                raise SubscribeError(-31623, message("Merchant billing refused"))
            with self._lock:
                if refusal is not None:
                    receipt.state = CREATED
                    if self.merchant is not None:
                        self.merchant("CancelTransaction", {"id": receipt_id, "reason": 2})
                    raise refusal
                card.balance -= receipt.amount
                receipt.state, receipt.pay_time, receipt.token = PAID, self._now(), token
            if self.merchant is not None:
                self.merchant("PerformTransaction", {"id": receipt_id})
            return receipt.view()

        result: Receipt = self._call("receipts.pay", {"id": receipt_id, "token": token}, run)
        return result

    def _refusal(self, card: FakeCard, amount: int) -> SubscribeError | None:
        if not card.recurrent:
            return SubscribeError(-31630, message("Card cannot be used"))
        if card.status in ("expired", "blocked"):
            return SubscribeError(-31630 if self.general_refusals else -31301, message(f"Card {card.status}"))
        if card.balance < amount:
            return SubscribeError(-31630 if self.general_refusals else -31303, message("Insufficient funds"))
        return None

    def _merchant_accepts(self, receipt: FakeReceipt) -> bool:
        assert self.merchant is not None
        params = {"amount": receipt.amount, "account": receipt.account}
        if "error" in self.merchant("CheckPerformTransaction", params):
            return False
        created = {"id": receipt.id, "time": receipt.create_time, **params}
        return "error" not in self.merchant("CreateTransaction", created)

    def receipts_cancel(self, receipt_id: str) -> Receipt:
        def run() -> Receipt:
            with self._lock:
                receipt = self._receipt(receipt_id)
                if receipt.state == CREATED:
                    receipt.state, receipt.cancel_time = CANCELLED, self._now()
                elif receipt.state == PAID:
                    receipt.state = 21  # queued for cancellation: a refund
                return receipt.view()

        result: Receipt = self._call("receipts.cancel", {"id": receipt_id}, run)
        return result

    def receipts_check(self, receipt_id: str) -> int:
        def run() -> int:
            with self._lock:
                return self._receipt(receipt_id).state

        result: int = self._call("receipts.check", {"id": receipt_id}, run)
        return result

    def receipts_get(self, receipt_id: str) -> Receipt:
        def run() -> Receipt:
            with self._lock:
                return self._receipt(receipt_id).view()

        result: Receipt = self._call("receipts.get", {"id": receipt_id}, run)
        return result
