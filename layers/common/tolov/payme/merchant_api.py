"""The Payme Merchant API: JSON-RPC in, JSON-RPC out, exactly once.

Pure protocol: storage and the ledger are behind `Repository`, the key behind `KeyStore`, time behind
an injectable clock. Every reply, whatever arrived, is a JSON-RPC object carrying the request's id
(null when it cannot be read); the function returns it with HTTP 200.

Order of checks: source address (-32504 when the allow list is on), HTTP method (-32300 for anything
but POST: a transport error, told before credentials since it reveals nothing), unparseable body (-32700),
credentials (-32504, before anything about the request is looked at, so an unauthenticated caller
learns nothing and changes nothing), request shape (-32600), method (-32601), the method's own rules.
"""

import contextlib
import hmac
import ipaddress
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from tolov.audit.masking import mask
from tolov.billing.errors import (
    AlreadyPosted,
    AmountMismatch,
    ApartmentNotFound,
    InvoiceAlreadyPaid,
    InvoiceCancelled,
    InvoiceLocked,
    InvoiceNotFound,
    LedgerContention,
    StateChanged,
    TransactionExists,
)
from tolov.billing.keys import PaymentKey
from tolov.billing.reservations import reservation_stale
from tolov.clock import Clock, now_ms
from tolov.observability import correlate, logger
from tolov.payme import errors as e
from tolov.payme.accounts import AccountRef, invoice_detail, resolve, topup_detail
from tolov.payme.errors import PaymeError
from tolov.payme.keys import Authenticator, KeyRing, KeyStore
from tolov.payme.repository import InvoiceView, Repository
from tolov.payme.transaction import (
    CANCELLED,
    CANCELLED_AFTER_PERFORM,
    CREATED,
    PERFORMED,
    REASON_TIMEOUT,
    FiscalType,
    Transaction,
    day_count,
)
from tolov.settings import ApartmentLimits, IpRange, PaymeSettings

PROVIDER = "payme"
Params = dict[str, Any]
Result = dict[str, Any]

# Rounds of Perform and Cancel: a lost race (StateChanged) re-reads at once; a ledger that kept changing
# under us (LedgerContention: many payments into one apartment at the same instant) backs off first,
# with full jitter, so the contenders spread out instead of colliding again.
ATTEMPTS = 8
BACKOFF_BASE_S = 0.01
BACKOFF_CAP_S = 0.2
MAX_TIMESTAMP = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_FISCAL_BYTES = 16_000
_PAYME_ID_CHARS = frozenset("0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ_-")


class PaymeRequest(NamedTuple):
    body: str | bytes | None
    headers: Mapping[str, str] | None = None
    source_ip: str | None = None
    http_method: str | None = None  # None when the caller does not know it (then it is taken as POST)


class Outcome(NamedTuple):
    reply: dict[str, Any]
    method: str | None = None  # a known method's name, for logs and metrics
    error_code: int | None = None
    failure: BaseException | None = None  # what caused a -32400, for the log


class ReversalPolicy(Protocol):
    def __call__(self, tx: Transaction, now: int) -> bool: ...


def reversal_window(window_ms: int | None) -> ReversalPolicy:
    """None: a performed payment can always be cancelled (state -2); otherwise only within window_ms."""

    def may_reverse(tx: Transaction, now: int) -> bool:
        return window_ms is None or now - tx.perform_time < window_ms

    return may_reverse


def ip_allowed(source_ip: str | None, ranges: Sequence[IpRange]) -> bool:
    """Whether the TCP peer API Gateway saw is inside one of the ranges."""
    if not source_ip:
        return False
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(
        first.version == address.version and first <= address <= last  # type: ignore[operator]
        for first, last in ranges
    )


def new_transaction_id() -> str:
    return str(10**11 + secrets.randbelow(9 * 10**11))


class _Unreadable(Exception):
    pass


class _Refused(Exception):
    """A CreateTransaction refusal for an id already read and found new: no repeat to look for."""

    def __init__(self, error: PaymeError) -> None:
        super().__init__(error.code)
        self.error = error


class _Repeat(Exception):
    """A CreateTransaction whose id is stored already, found on the way: answered as a repeat."""

    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx.id)
        self.tx = tx


_UNREADABLE = object()


def _reject_constant(name: str) -> Any:
    raise _Unreadable(name)  # NaN and Infinity are not JSON


class Merchant:
    def __init__(
        self,
        repository: Repository,
        keys: KeyStore,
        config: PaymeSettings,
        limits: ApartmentLimits,
        *,
        clock: Clock = now_ms,
        reversal_policy: ReversalPolicy | None = None,
        transaction_ids: Callable[[], str] = new_transaction_id,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repo = repository
        self.keys = keys
        self.config = config
        self.limits = limits
        self.clock = clock
        self.auth = Authenticator(keys, clock)
        self.may_reverse = reversal_policy or reversal_window(config.reversal_window_ms)
        self.transaction_ids = transaction_ids
        self.sleep = sleep
        self.allowed_ips = config.allowed_ips if config.ip_check_enabled else None
        self.methods: dict[str, Callable[[Params], Result]] = {
            "CheckPerformTransaction": self.check_perform_transaction,
            "CreateTransaction": self.create_transaction,
            "PerformTransaction": self.perform_transaction,
            "CancelTransaction": self.cancel_transaction,
            "CheckTransaction": self.check_transaction,
            "GetStatement": self.get_statement,
            "SetFiscalData": self.set_fiscal_data,
            "ChangePassword": self.change_password,
        }

    # ------------------------------------------------------------------ envelope
    def handle(self, request: PaymeRequest) -> Outcome:
        try:
            body = _parse(request.body)
        except _Unreadable:
            body = _UNREADABLE
        raw_id = body.get("id") if isinstance(body, dict) else None
        request_id = raw_id if _valid_id(raw_id) else None
        # An address outside the allow list gets the answer for bad credentials, whatever it sent.
        if self.allowed_ips is not None and not ip_allowed(request.source_ip, self.allowed_ips):
            return _error(request_id, PaymeError(e.INSUFFICIENT_PRIVILEGE))
        if request.http_method is not None and request.http_method.upper() != "POST":
            return _error(request_id, PaymeError(e.TRANSPORT_ERROR))
        if body is _UNREADABLE:
            return _error(None, PaymeError(e.PARSE_ERROR))
        try:
            if not self.auth.check(request.headers):
                return _error(request_id, PaymeError(e.INSUFFICIENT_PRIVILEGE))
        except Exception as failure:  # the secret could not be read: a system error, not a refusal
            return _error(request_id, PaymeError(e.SYSTEM_ERROR), failure=failure)
        if not isinstance(body, dict):
            return _error(None, e.invalid("request"))
        if request_id is None:
            return _error(None, e.invalid("id"))
        method_name = body.get("method")
        if not isinstance(method_name, str):
            return _error(request_id, e.invalid("method"))
        method = self.methods.get(method_name)
        if method is None:
            return _error(request_id, PaymeError(e.METHOD_NOT_FOUND, data=method_name[:128]))
        params = body.get("params")
        if not isinstance(params, dict):
            return _error(request_id, e.invalid("params"), method=method_name)
        # Every later line of this request names Payme's transaction (Check/Create/Perform/Cancel).
        correlate(payme_method=method_name, payme_transaction_id=params.get("id"))
        # What Payme asked, for DEBUG: ChangePassword's new key is never written, and the rest is masked as
        # the audit trail keeps it (a card number in a free-form account field is cut to 6+4).
        shown = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
        logger.debug("payme params", extra={"params": mask(shown)})
        try:
            result = method(params)
        except PaymeError as error:
            return _error(request_id, error, method=method_name)
        except Exception as failure:
            # DynamoDB down, throttled, contention beyond our retries: every change is one transaction,
            # so nothing partial was written and Payme's retry starts clean.
            return _error(request_id, PaymeError(e.SYSTEM_ERROR), method=method_name, failure=failure)
        return Outcome({"jsonrpc": "2.0", "id": request_id, "result": result}, method=method_name)

    # ------------------------------------------------------------------ methods
    def check_perform_transaction(self, params: Params) -> Result:
        amount = _amount(params)
        ref = resolve(self.config, _account(params))
        if ref.kind == "invoice":
            invoice = self._invoice(ref)
            self._check_payable(invoice, amount, self.clock())
            return {"allow": True, "detail": invoice_detail(invoice)}
        try:
            apartment = self.repo.apartment(ref.value, with_debt=True)
        except ApartmentNotFound:
            raise e.account_error(ref.kind, ref.field) from None
        self._check_topup(amount)
        result: Result = {"allow": True, "additional": {"label": apartment.label, "debt": apartment.debt}}
        detail = topup_detail(self.config, amount)
        if detail is not None:
            result["detail"] = detail
        return result

    def create_transaction(self, params: Params) -> Result:
        payme_id = _payme_id(params)
        time = _timestamp(params, "time")
        amount = _amount(params)
        account = _account(params)
        now = self.clock()
        # Written first: the new row's attribute_not_exists is the test for "a repeat", so the stored
        # transaction is read only when the write did not go through (it existed, or a check refused:
        # a repeat is answered from its stored values before any of those refusals, as it always was).
        try:
            return self._create_new(payme_id, time, amount, account, now)
        except _Repeat as repeat:
            return self._created_again(repeat.tx, amount, account, now)
        except _Refused as refused:
            raise refused.error from None
        except (TransactionExists, PaymeError):
            stored = self.repo.get(payme_id)
            if stored is None:
                raise
            return self._created_again(stored, amount, account, now)

    def _create_new(
        self, payme_id: str, time: int, amount: int, account: dict[str, Any], now: int
    ) -> Result:
        ref = resolve(self.config, account)
        if ref.kind == "apartment":
            try:
                self.repo.apartment(ref.value, with_debt=False)
            except ApartmentNotFound:
                raise e.account_error(ref.kind, ref.field) from None
            self._check_topup(amount)
        tx = Transaction(
            id=payme_id,
            time=time,
            amount=amount,
            account=account,
            kind=ref.kind,
            target=ref.value,
            create_time=now,
            transaction=self.transaction_ids(),
        )
        if tx.expired(now):
            # Payme's own clock has already timed it out; storing it would only add a dead reservation.
            raise PaymeError(e.CANNOT_PERFORM, e.TRANSACTION_EXPIRED)
        for attempt in range(2):
            try:
                self.repo.create(tx)
                return _create_result(tx)
            except InvoiceLocked as locked:
                if attempt == 0 and self._retire_expired_holder(payme_id, ref.value, locked, now):
                    continue
                raise PaymeError(e.CANNOT_PERFORM, e.INVOICE_BUSY) from None
            except (InvoiceNotFound, InvoiceAlreadyPaid, InvoiceCancelled, AmountMismatch) as refusal:
                raise _invoice_refusal(refusal, ref) from None
        raise PaymeError(e.CANNOT_PERFORM, e.INVOICE_BUSY)

    def perform_transaction(self, params: Params) -> Result:
        payme_id = _payme_id(params)
        for attempt in range(ATTEMPTS):
            tx = self._transaction(payme_id)
            if tx.state == PERFORMED:
                return _perform_result(tx)
            if tx.state != CREATED:
                raise PaymeError(e.CANNOT_PERFORM, e.WRONG_STATE)
            now = self.clock()
            if tx.expired(now):
                self._expire(tx, now)
                raise PaymeError(e.CANNOT_PERFORM, e.TRANSACTION_EXPIRED)
            try:
                try:
                    self.repo.perform(tx, now)
                except AlreadyPosted:
                    # Posted already: by an earlier round of ours (then the transaction is in state 2 and
                    # this fails), or by the autopay charger for this Subscribe receipt (then only the
                    # state change is left to record).
                    self.repo.mark_performed(tx, now)
                return {"transaction": tx.transaction, "perform_time": now, "state": PERFORMED}
            except StateChanged:
                continue
            except LedgerContention:
                self._back_off(attempt)
                continue
            except (InvoiceLocked, InvoiceAlreadyPaid, InvoiceCancelled, AmountMismatch):
                # Not ours to post any more (another provider took the invoice over). The transaction
                # stays in state 1 until Payme cancels it.
                current = self._transaction(payme_id)
                if current.state == PERFORMED:
                    return _perform_result(current)
                raise PaymeError(e.CANNOT_PERFORM, e.WRONG_STATE) from None
            except (InvoiceNotFound, ApartmentNotFound):
                field = self.config.invoice_field if tx.kind == "invoice" else self.config.apartment_field
                raise e.account_error(tx.kind, field) from None
        raise LedgerContention(f"PerformTransaction {payme_id}")

    def cancel_transaction(self, params: Params) -> Result:
        payme_id = _payme_id(params)
        reason = params.get("reason")
        if not isinstance(reason, int) or isinstance(reason, bool):
            raise e.invalid("reason")
        for attempt in range(ATTEMPTS):
            tx = self._transaction(payme_id)
            if tx.state in (CANCELLED, CANCELLED_AFTER_PERFORM):
                return _cancel_result(tx)
            now = self.clock()
            if tx.state == PERFORMED and not self.may_reverse(tx, now):
                raise PaymeError(e.CANNOT_CANCEL)
            try:
                self.repo.cancel(tx, now, reason)
            except StateChanged:
                continue
            except LedgerContention:
                self._back_off(attempt)
                continue
            state = CANCELLED if tx.state == CREATED else CANCELLED_AFTER_PERFORM
            return {"transaction": tx.transaction, "cancel_time": now, "state": state}
        raise LedgerContention(f"CancelTransaction {payme_id}")

    def check_transaction(self, params: Params) -> Result:
        tx = self._transaction(_payme_id(params))
        return {
            "create_time": tx.create_time,
            "perform_time": tx.perform_time,
            "cancel_time": tx.cancel_time,
            "transaction": tx.transaction,
            "state": tx.state,
            "reason": tx.reason,
        }

    def get_statement(self, params: Params) -> Result:
        start, end = _timestamp(params, "from"), _timestamp(params, "to")
        if end < start:
            return {"transactions": []}
        if day_count(start, end) > self.config.statement_max_days:
            raise e.invalid("to")
        return {"transactions": [tx.statement_entry() for tx in self.repo.statement(start, end)]}

    def set_fiscal_data(self, params: Params) -> Result:
        payme_id = _payme_id(params)
        kind = params.get("type")
        if kind not in ("PERFORM", "CANCEL"):
            raise e.invalid("type")
        fiscal_kind: FiscalType = "PERFORM" if kind == "PERFORM" else "CANCEL"
        data = params.get("fiscal_data")
        if not isinstance(data, dict) or len(json.dumps(data)) > MAX_FISCAL_BYTES:
            raise e.invalid("fiscal_data")
        if not self.repo.set_fiscal(payme_id, fiscal_kind, data):
            raise PaymeError(e.TRANSACTION_NOT_FOUND)
        return {"success": True}

    def change_password(self, params: Params) -> Result:
        password = params.get("password")
        if not isinstance(password, str) or not password.strip() or len(password) > 256:
            raise PaymeError(e.ACCOUNT_NOT_FOUND, e.INVALID_PASSWORD, data="password")
        current = self.keys.ring(fresh=True)
        if hmac.compare_digest(password.encode(), current.key.encode()):
            return {"success": True}  # a repeat of a change already made
        overlap_ms = self.config.key_overlap_seconds * 1000
        ring = KeyRing(password, current.key, self.clock() + overlap_ms) if overlap_ms else KeyRing(password)
        self.keys.replace(ring)
        return {"success": True}

    # ------------------------------------------------------------------ rules
    def _transaction(self, payme_id: str) -> Transaction:
        tx = self.repo.get(payme_id)
        if tx is None:
            raise PaymeError(e.TRANSACTION_NOT_FOUND)
        return tx

    def _invoice(self, ref: AccountRef) -> InvoiceView:
        try:
            return self.repo.invoice(ref.value)
        except InvoiceNotFound:
            raise e.account_error(ref.kind, ref.field) from None

    def _check_payable(self, invoice: InvoiceView, amount: int, now: int) -> None:
        if invoice.status == "paid":
            raise PaymeError(e.CANNOT_PERFORM, e.INVOICE_PAID)
        if invoice.status != "open":
            raise PaymeError(e.CANNOT_PERFORM, e.INVOICE_CANCELLED)
        if amount != invoice.unpaid:
            raise PaymeError(e.WRONG_AMOUNT)
        if invoice.holder is not None and not self._holder_expired(invoice, now):
            raise PaymeError(e.CANNOT_PERFORM, e.INVOICE_BUSY)

    def _check_topup(self, amount: int) -> None:
        if not self.limits.allows_topup(amount):
            raise PaymeError(e.WRONG_AMOUNT)

    def _holder_expired(self, invoice: InvoiceView, now: int) -> bool:
        holder = PaymentKey.parse(invoice.holder or "")
        if holder.provider != PROVIDER:
            # Another provider's attempt (a Click Prepare never completed) blocks until it is stale.
            return reservation_stale(str(holder), invoice.holder_since, now)
        tx = self.repo.get(holder.external_id)
        return tx is not None and tx.state == CREATED and tx.expired(now)

    def _retire_expired_holder(
        self, payme_id: str, invoice_id: str, locked: InvoiceLocked, now: int
    ) -> bool:
        """A new Payme id for an invoice reserved by a transaction past its 12 hours: Payme has
        given that one up, so cancel it (reason 4) and let the new one take the invoice.
        True when the invoice may be free now. The holder is the one the refusing read saw; a Payme
        holder is read together with this id's own row, which, when it exists, makes this a repeat
        (raised as _Repeat) and the holder is left alone."""
        holder_key = locked.holder
        if holder_key is None:
            holder_key = self.repo.invoice(invoice_id).holder
            if holder_key is None:
                return True
        holder = PaymentKey.parse(holder_key)
        if holder.provider != PROVIDER:
            # The ledger takes a stale reservation of another provider over.
            return reservation_stale(holder_key, locked.since, now)
        found = self.repo.get_many([payme_id, holder.external_id])
        if (own := found.get(payme_id)) is not None:
            raise _Repeat(own)
        stale = found.get(holder.external_id)
        if stale is None or stale.state != CREATED or not stale.expired(now):
            raise _Refused(PaymeError(e.CANNOT_PERFORM, e.INVOICE_BUSY))  # this id is known new
        self._expire(stale, now)
        return True

    def _back_off(self, attempt: int) -> None:
        self.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))

    def _expire(self, tx: Transaction, now: int) -> None:
        # StateChanged: someone else moved it first; it is no longer state 1 either way.
        with contextlib.suppress(StateChanged):
            self.repo.cancel(tx, now, REASON_TIMEOUT)

    def _created_again(self, tx: Transaction, amount: int, account: dict[str, Any], now: int) -> Result:
        """A repeated CreateTransaction: the same checks, then the stored answer, unchanged."""
        if amount != tx.amount:
            raise PaymeError(e.WRONG_AMOUNT)
        if account != tx.account:
            field = self.config.invoice_field if tx.kind == "invoice" else self.config.apartment_field
            raise e.account_error(tx.kind, field, e.ACCOUNT_MISMATCH)
        if tx.state != CREATED:
            raise PaymeError(e.CANNOT_PERFORM, e.WRONG_STATE)
        if tx.expired(now):
            self._expire(tx, now)
            raise PaymeError(e.CANNOT_PERFORM, e.TRANSACTION_EXPIRED)
        return _create_result(tx)


# ---------------------------------------------------------------------- replies
def _error(
    request_id: Any, error: PaymeError, *, method: str | None = None, failure: BaseException | None = None
) -> Outcome:
    return Outcome(
        {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()},
        method=method,
        error_code=error.code,
        failure=failure,
    )


def _create_result(tx: Transaction) -> Result:
    return {
        "create_time": tx.create_time,
        "transaction": tx.transaction,
        "state": tx.state,
        "receivers": None,
    }


def _perform_result(tx: Transaction) -> Result:
    return {"transaction": tx.transaction, "perform_time": tx.perform_time, "state": tx.state}


def _cancel_result(tx: Transaction) -> Result:
    return {"transaction": tx.transaction, "cancel_time": tx.cancel_time, "state": tx.state}


def _invoice_refusal(refusal: Exception, ref: AccountRef) -> PaymeError:
    if isinstance(refusal, InvoiceNotFound):
        return e.account_error(ref.kind, ref.field)
    if isinstance(refusal, InvoiceAlreadyPaid):
        return PaymeError(e.CANNOT_PERFORM, e.INVOICE_PAID)
    if isinstance(refusal, InvoiceCancelled):
        return PaymeError(e.CANNOT_PERFORM, e.INVOICE_CANCELLED)
    return PaymeError(e.WRONG_AMOUNT)


# ---------------------------------------------------------------------- parsing
SECRET_PARAMS = frozenset({"password"})


def _parse(body: str | bytes | None) -> Any:
    if body is None:
        raise _Unreadable("no body")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, over-long integers
        raise _Unreadable(type(error).__name__) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_id(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, str) and len(value) <= 128)


def _payme_id(params: Params) -> str:
    value = params.get("id")
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not set(value) <= _PAYME_ID_CHARS:
        raise e.invalid("id")
    return value


def _timestamp(params: Params, name: str) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TIMESTAMP:
        raise e.invalid(name)
    return value


def _amount(params: Params) -> int:
    value = params.get("amount")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise e.invalid("amount")
    if not isinstance(value, int) or value <= 0:
        raise PaymeError(e.WRONG_AMOUNT)  # tiyin are whole and positive; never round a float
    return value


def _account(params: Params) -> dict[str, Any]:
    value = params.get("account")
    if not isinstance(value, dict):
        raise e.invalid("account")
    return value
