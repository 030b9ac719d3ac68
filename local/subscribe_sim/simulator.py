"""The Subscribe API's behaviour, transport-free: cards and receipts in memory behind one lock, the receipt
state machine, and the merchant callbacks of receipts.pay (see local/subscribe_sim/__init__.py)."""

import hmac
import json
import os
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

from local.subscribe_sim.cards import (
    DEFAULT_BALANCE,
    SMS_CODE,
    TEST_CARDS,
    TEST_EXPIRE,
    Behaviour,
    CardStatus,
    mask_number,
)
from local.subscribe_sim.errors import SimError
from local.subscribe_sim.merchant import MerchantEndpoint

CALLBACKS_SETTING = "PAYME_SIM_MERCHANT_CALLBACKS"
# A file: every card token the simulator issues is appended to it (local.log_scan then looks for them).
ISSUED_TOKENS_ENV = "TOLOV_SIM_TOKENS_FILE"
CODE_WAIT_MS = 60_000
MAX_CODE_ATTEMPTS = 3
SLOW_PAY_S = 10.0
MIN_AMOUNT = 100  # 1 sum
MAX_AMOUNT = 5_000_000_000  # 50 000 000 sum
MAX_BODY_BYTES = 64 * 1024
MAX_TOKENS = 50_000
MAX_RECEIPTS = 50_000
MASKED_PHONE = "99890*****31"

FRONT_END_METHODS = frozenset({"cards.create", "cards.get_verify_code", "cards.verify"})
EITHER_AUTH_METHODS = frozenset({"cards.check"})


class S(IntEnum):
    """Payme's receipt states (reference §5.4), written out here rather than taken from our client: the
    simulator stands for Payme, so a mistake in the client must not become the simulator's too."""

    CREATED = 0
    CHECKING = 1  # first checks; CreateTransaction on the merchant's endpoint
    DEBITING = 2
    CLOSING = 3  # PerformTransaction on the merchant's endpoint
    PAID = 4
    CANCELLING = 21  # queued for cancellation
    CLOSE_QUEUED = 30  # queued for closing on the merchant's endpoint
    CANCELLED = 50


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def callbacks_enabled(environ: Mapping[str, str], config: Mapping[str, str]) -> bool:
    """PAYME_SIM_MERCHANT_CALLBACKS from the environment, else the local config; on unless 0/false/off/no."""
    raw = environ.get(CALLBACKS_SETTING, config.get(CALLBACKS_SETTING, "1"))
    return raw.strip().lower() not in {"0", "false", "off", "no"}


@dataclass
class _Card:
    """A card number: what Payme's processing knows of it."""

    number: str
    behaviour: Behaviour
    status: CardStatus
    balance: int = DEFAULT_BALANCE
    recurrent: bool = True


@dataclass
class _Token:
    token: str
    number: str
    save: bool
    verified: bool = False
    removed: bool = False
    code_until: int = 0  # when the SMS code sent last stops working; 0: none was sent
    wrong_codes: int = 0


@dataclass
class _Receipt:
    id: str
    amount: int
    account: dict[str, Any]
    description: str
    detail: dict[str, Any] | None
    create_time: int
    state: int = S.CREATED
    pay_time: int = 0
    cancel_time: int = 0
    number: str | None = None  # the card that paid (or tried to)
    payer: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    fiscal_data: dict[str, Any] | None = None
    merchant_time: int = 0  # Payme's `time` of CreateTransaction on our endpoint
    merchant_knows: bool = False  # our endpoint has the transaction (callbacks were on at payment)
    busy: bool = False  # a thread is moving it through a queued state (21, 30)


class SubscribeSimulator:
    """The Subscribe API's behaviour, transport-free: ``handle(body, x_auth)`` answers one request."""

    def __init__(
        self,
        merchant_id: str,
        key: str | Callable[[], str],
        *,
        merchant_url: str | None = None,
        callbacks: bool = True,
        clock: Callable[[], int] = now_ms,
        slow_pay_s: float = SLOW_PAY_S,
        latency_ms: int = 0,
        max_tokens: int = MAX_TOKENS,
        max_receipts: int = MAX_RECEIPTS,
    ) -> None:
        self.merchant_id = merchant_id
        self._key = key if callable(key) else (lambda: key)
        self.merchant: MerchantEndpoint | None = None
        if merchant_url:
            self.set_merchant_url(merchant_url)
        self.callbacks = callbacks
        self.clock = clock
        self.slow_pay_s = slow_pay_s
        self.latency_ms = latency_ms
        self._max_tokens = max_tokens
        self._max_receipts = max_receipts
        self._lock = threading.Lock()
        self._cards = {number: _Card(number, b, s) for number, (b, s) in TEST_CARDS.items()}
        self._tokens: OrderedDict[str, _Token] = OrderedDict()
        self._receipts: OrderedDict[str, _Receipt] = OrderedDict()
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "cards.create": self._cards_create,
            "cards.get_verify_code": self._cards_get_verify_code,
            "cards.verify": self._cards_verify,
            "cards.check": self._cards_check,
            "cards.remove": self._cards_remove,
            "receipts.create": self._receipts_create,
            "receipts.pay": self._receipts_pay,
            "receipts.send": self._receipts_send,
            "receipts.cancel": self._receipts_cancel,
            "receipts.check": self._receipts_check,
            "receipts.get": self._receipts_get,
            "receipts.get_all": self._receipts_get_all,
            "receipts.set_fiscal_data": self._receipts_set_fiscal_data,
        }

    def set_merchant_url(self, url: str) -> None:
        self.merchant = MerchantEndpoint(url, self._key)

    # ------------------------------------------------------------------ the JSON-RPC entry

    def handle(self, body: bytes, x_auth: str | None) -> dict[str, Any]:
        request_id: Any = None
        try:
            if len(body) > MAX_BODY_BYTES:
                raise SimError("request", "body too large")
            try:
                request = json.loads(body)
            except ValueError:
                raise SimError("parse") from None
            if not isinstance(request, dict):
                raise SimError("request")
            request_id = request.get("id")
            method, params = request.get("method"), request.get("params", {})
            if not isinstance(method, str) or not isinstance(params, dict):
                raise SimError("request")
            if method not in self._methods:
                raise SimError("method", method)
            self._authorise(method, x_auth)
            result = self._methods[method](params)
        except SimError as error:
            return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
        except Exception:  # a bug here: answered as Payme answers its own failures, and shown in the log
            traceback.print_exc()
            return {"jsonrpc": "2.0", "id": request_id, "error": SimError("system").to_json()}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _authorise(self, method: str, x_auth: str | None) -> None:
        merchant_id, sep, key = (x_auth or "").strip().partition(":")
        if not hmac.compare_digest(merchant_id.encode(), self.merchant_id.encode()):
            raise SimError("access")
        if sep:  # id:key is good for every method, when the key is the cashbox's
            if not hmac.compare_digest(key.encode(), self._key().encode()):
                raise SimError("access")
        elif method not in FRONT_END_METHODS | EITHER_AUTH_METHODS:
            raise SimError("access")

    # ------------------------------------------------------------------ controls (/_sim)

    def set_balance(self, number: str, balance: int) -> dict[str, Any]:
        with self._lock:
            card = self._card_for_control(number)
            card.balance = balance
            return {"number": number, "balance": card.balance}

    def set_card(self, number: str, status: CardStatus, recurrent: bool | None = None) -> dict[str, Any]:
        with self._lock:
            card = self._card_for_control(number)
            if status is CardStatus.REMOVED:
                for token in self._tokens.values():
                    if token.number == number:
                        token.removed = True
            else:
                card.status = status
            if recurrent is not None:
                card.recurrent = recurrent
            return {"number": number, "status": card.status.value, "recurrent": card.recurrent}

    def _card_for_control(self, number: str) -> _Card:
        if number not in self._cards:
            if len(self._cards) >= self._max_tokens:
                raise ValueError("too many cards")
            self._cards[number] = _Card(number, Behaviour.OK, CardStatus.OK)
        return self._cards[number]

    # ------------------------------------------------------------------ cards

    def _cards_create(self, params: dict[str, Any]) -> dict[str, Any]:
        card = params.get("card")
        if not isinstance(card, dict):
            raise SimError("params", "card")
        number, expire, save = card.get("number"), card.get("expire"), params.get("save", True)
        if not isinstance(number, str) or not number.isdigit() or not 12 <= len(number) <= 19:
            raise SimError("card_number", "number")
        if not isinstance(expire, str) or not (len(expire) == 4 and expire.isdigit()):
            raise SimError("card_expire", "expire")
        if not isinstance(save, bool):
            raise SimError("params", "save")
        with self._lock:
            known = self._cards.get(number)
            if known is None:
                raise SimError("card_number", "number")
            if expire != TEST_EXPIRE:
                raise SimError("card_expire", "expire")
            self._refuse_status(known, for_payment=False)
            token = self._new_token(number, save, verified=False)
            return {"card": self._card_json(token, known)}

    def _cards_get_verify_code(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            token = self._token(params)
            if self._cards[token.number].behaviour is Behaviour.NO_SMS:
                raise SimError("no_sms")
            token.code_until = self.clock() + CODE_WAIT_MS
            token.wrong_codes = 0
            return {"sent": True, "phone": MASKED_PHONE, "wait": CODE_WAIT_MS}

    def _cards_verify(self, params: dict[str, Any]) -> dict[str, Any]:
        code = params.get("code")
        if not isinstance(code, str | int) or isinstance(code, bool):
            raise SimError("params", "code")
        with self._lock:
            token = self._token(params)
            if not token.code_until or self.clock() > token.code_until:
                raise SimError("code_expired")
            if str(code) != SMS_CODE:
                token.wrong_codes += 1
                if token.wrong_codes >= MAX_CODE_ATTEMPTS:
                    token.code_until = 0
                    raise SimError("code_attempts")
                raise SimError("code_wrong")
            # Payme may answer with another token than the one it verified: the old one stops working.
            token.removed = True
            verified = self._new_token(token.number, token.save, verified=True)
            return {"card": self._card_json(verified, self._cards[token.number])}

    def _cards_check(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            token = self._token(params)
            card = self._cards[token.number]
            self._refuse_status(card, for_payment=False)
            return {"card": self._card_json(token, card)}

    def _cards_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._token(params).removed = True
            return {"success": True}

    def _token(self, params: dict[str, Any]) -> _Token:
        value = params.get("token")
        if not isinstance(value, str) or not value:
            raise SimError("params", "token")
        token = self._tokens.get(value)
        if token is None or token.removed:
            raise SimError("card_not_found")
        return token

    def _new_token(self, number: str, save: bool, *, verified: bool) -> _Token:
        token = _Token(secrets.token_urlsafe(48), number, save, verified=verified)
        self._tokens[token.token] = token
        if ISSUED_TOKENS_ENV in os.environ:  # the log scan looks for every token the simulator issued
            with open(os.environ[ISSUED_TOKENS_ENV], "a", encoding="utf-8") as issued:
                issued.write(token.token + "\n")
        while len(self._tokens) > self._max_tokens:
            self._tokens.popitem(last=False)
        return token

    @staticmethod
    def _refuse_status(card: _Card, *, for_payment: bool) -> None:
        if card.status is CardStatus.EXPIRED:
            raise SimError("pay_card_expired" if for_payment else "card_expired")
        if card.status is CardStatus.BLOCKED:
            raise SimError("pay_card_blocked" if for_payment else "card_blocked")

    @staticmethod
    def _card_json(token: _Token, card: _Card) -> dict[str, Any]:
        return {
            "number": mask_number(card.number),
            "expire": f"{TEST_EXPIRE[:2]}/{TEST_EXPIRE[2:]}",
            "token": token.token,
            "recurrent": token.save and card.recurrent,
            "verify": token.verified,
        }

    # ------------------------------------------------------------------ receipts

    def _receipts_create(self, params: dict[str, Any]) -> dict[str, Any]:
        amount, account = params.get("amount"), params.get("account")
        description, detail = params.get("description", ""), params.get("detail")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise SimError("field", "amount")
        if amount < MIN_AMOUNT:
            raise SimError("amount_low")
        if amount > MAX_AMOUNT:
            raise SimError("amount_high")
        if not isinstance(account, dict) or not account or not all(isinstance(k, str) for k in account):
            raise SimError("field", "account")
        if not isinstance(description, str):
            raise SimError("field", "description")
        if detail is not None and not isinstance(detail, dict):
            raise SimError("field", "detail")
        with self._lock:
            receipt = _Receipt(
                id=secrets.token_hex(12),
                amount=amount,
                account=account,
                description=description,
                detail=detail,
                create_time=self.clock(),
            )
            self._receipts[receipt.id] = receipt
            while len(self._receipts) > self._max_receipts:
                self._receipts.popitem(last=False)
            return {"receipt": self._receipt_json(receipt)}

    def _receipts_pay(self, params: dict[str, Any]) -> dict[str, Any]:
        payer = params.get("payer")
        if payer is not None and not isinstance(payer, dict):
            raise SimError("params", "payer")
        with self._lock:
            receipt = self._receipt(params)
            if receipt.state != S.CREATED:
                raise SimError("receipt_state", {"state": receipt.state})
            token = self._token(params)
            if not token.verified:
                raise SimError("card_not_verified")
            card = self._cards[token.number]
            self._refuse_status(card, for_payment=True)
            if card.behaviour is Behaviour.SYSTEM_ERROR:
                raise SimError("system")
            receipt.state = S.CHECKING
            receipt.number, receipt.payer = card.number, payer
            receipt.merchant_time = self.clock()
            merchant = self.merchant if self.callbacks else None
            receipt.merchant_knows = merchant is not None
        if merchant is not None:
            check = merchant.call(
                "CheckPerformTransaction", {"amount": receipt.amount, "account": receipt.account}
            )
            if not check.ok:
                self._fail(receipt, SimError(check.kind or "billing_refused", check.data), notify=False)
            create = merchant.call(
                "CreateTransaction",
                {
                    "id": receipt.id,
                    "time": receipt.merchant_time,
                    "amount": receipt.amount,
                    "account": receipt.account,
                },
            )
            if not create.ok:
                # An answer that never came may hide a transaction that was made: cancel it to be sure.
                error = SimError(create.kind or "billing_refused", create.data)
                self._fail(receipt, error, notify=create.kind == "billing_unavailable")
        with self._lock:
            receipt.state = S.DEBITING
        if card.behaviour is Behaviour.SLOW:
            time.sleep(self.slow_pay_s)
            self._fail(receipt, SimError("processing"), notify=merchant is not None)
        with self._lock:
            funded = card.balance >= receipt.amount
            if funded:
                card.balance -= receipt.amount
                receipt.state = S.CLOSING if merchant is not None else S.PAID
        if not funded:
            self._fail(receipt, SimError("funds"), notify=merchant is not None)
        if merchant is not None:
            closed = merchant.call("PerformTransaction", {"id": receipt.id}).ok
            with self._lock:
                receipt.state = S.PAID if closed else S.CLOSE_QUEUED
        with self._lock:
            if receipt.state == S.PAID:
                receipt.pay_time = self.clock()
                if not token.save:
                    token.removed = True  # a single-use token is gone once it has paid
            return {"receipt": self._receipt_json(receipt)}

    def _fail(self, receipt: _Receipt, error: SimError, *, notify: bool) -> None:
        """The payment failed: our endpoint's transaction is cancelled (reason 2), the receipt is 50."""
        if notify and self.merchant is not None:
            self.merchant.call("CancelTransaction", {"id": receipt.id, "reason": 2})
        with self._lock:
            receipt.state, receipt.cancel_time = S.CANCELLED, self.clock()
            receipt.error = error.to_json()
        raise error

    def _receipts_send(self, params: dict[str, Any]) -> dict[str, Any]:
        phone = params.get("phone")
        if not isinstance(phone, str) or not (len(phone) == 12 and phone.isdigit() and phone[:3] == "998"):
            raise SimError("field", "phone")
        with self._lock:
            self._receipt(params)
        return {"success": True}

    def _receipts_cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            receipt = self._receipt(params)
            if receipt.state == S.CREATED:
                receipt.state, receipt.cancel_time = S.CANCELLED, self.clock()
            elif receipt.state == S.PAID:
                receipt.state = S.CANCELLING  # refunded when it is looked at next
            elif receipt.state not in (S.CANCELLED, S.CANCELLING):
                raise SimError("receipt_state", {"state": receipt.state})
            return {"receipt": self._receipt_json(receipt)}

    def _receipts_check(self, params: dict[str, Any]) -> dict[str, Any]:
        receipt = self._advanced(params)
        with self._lock:
            return {"state": receipt.state}

    def _receipts_get(self, params: dict[str, Any]) -> dict[str, Any]:
        receipt = self._advanced(params)
        with self._lock:
            return {"receipt": self._receipt_json(receipt)}

    def _receipts_get_all(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        count, start, end, offset = (params.get(k) for k in ("count", "from", "to", "offset"))
        offset = 0 if offset is None else offset
        for name, value in (("count", count), ("from", start), ("to", end), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SimError("params", name)
        if not 1 <= cast(int, count) <= 50:
            raise SimError("params", "count")
        with self._lock:
            found = sorted(
                (r for r in self._receipts.values() if cast(int, start) <= r.create_time <= cast(int, end)),
                key=lambda r: r.create_time,
            )
            page = found[cast(int, offset) : cast(int, offset) + cast(int, count)]
            return [self._receipt_json(r) for r in page]

    def _receipts_set_fiscal_data(self, params: dict[str, Any]) -> dict[str, Any]:
        fiscal = params.get("fiscal_data")
        if not isinstance(fiscal, dict):
            raise SimError("params", "fiscal_data")
        if isinstance(fiscal.get("receipt_id"), bool) or not isinstance(fiscal.get("receipt_id"), int):
            raise SimError("params", "fiscal_data.receipt_id")
        if not isinstance(fiscal.get("qr_code_url"), str):
            raise SimError("params", "fiscal_data.qr_code_url")
        with self._lock:
            self._receipt(params).fiscal_data = fiscal
        return {"success": True}

    def _receipt(self, params: dict[str, Any]) -> _Receipt:
        value = params.get("id")
        if not isinstance(value, str) or not value:
            raise SimError("params", "id")
        receipt = self._receipts.get(value)
        if receipt is None:
            raise SimError("receipt_not_found")
        return receipt

    def _advanced(self, params: dict[str, Any]) -> _Receipt:
        """The receipt, after moving it on from a queued state (30: close on our endpoint; 21: refund)."""
        with self._lock:
            receipt = self._receipt(params)
            if receipt.busy or receipt.state not in (S.CLOSE_QUEUED, S.CANCELLING):
                return receipt
            receipt.busy = True
            state = receipt.state
            merchant = self.merchant if self.callbacks and receipt.merchant_knows else None
        try:
            if state == S.CLOSE_QUEUED:
                closed = merchant is None or merchant.call("PerformTransaction", {"id": receipt.id}).ok
                with self._lock:
                    if closed:
                        receipt.state, receipt.pay_time = S.PAID, self.clock()
            else:
                refunded = (
                    merchant is None or merchant.call("CancelTransaction", {"id": receipt.id, "reason": 5}).ok
                )
                with self._lock:
                    if refunded:
                        receipt.state, receipt.cancel_time = S.CANCELLED, self.clock()
                        if receipt.number is not None:
                            self._cards[receipt.number].balance += receipt.amount
        finally:
            with self._lock:
                receipt.busy = False
        return receipt

    def _receipt_json(self, receipt: _Receipt) -> dict[str, Any]:
        card = None
        if receipt.number is not None:
            card = {"number": mask_number(receipt.number), "expire": TEST_EXPIRE[2:] + TEST_EXPIRE[:2]}
        return {
            "_id": receipt.id,
            "create_time": receipt.create_time,
            "pay_time": receipt.pay_time,
            "cancel_time": receipt.cancel_time,
            "state": int(receipt.state),
            "type": 2,
            "external": False,
            "operation": -1,
            "category": None,
            "error": receipt.error,
            "description": receipt.description,
            "detail": receipt.detail,
            "amount": receipt.amount,
            "currency": 860,
            "commission": 0,
            "account": [
                {"name": name, "title": name, "value": value, "main": index == 0}
                for index, (name, value) in enumerate(receipt.account.items())
            ],
            "card": card,
            "merchant": {
                "_id": self.merchant_id,
                "name": "tolov (local simulator)",
                "organization": "",
                "address": "",
                "business_id": "",
                "epos": {"merchantId": "", "terminalId": ""},
                "date": receipt.create_time,
                "logo": None,
                "type": "",
                "terms": None,
            },
            "meta": {"source": "subscribe", "owner": self.merchant_id},
            "processing_id": None,
            "payer": receipt.payer,
        }
