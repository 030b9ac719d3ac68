"""State changes in the tables' stream images -> the domain events they mean. Pure: images in, events out.

The tables where payments change state are the outbox: a change is written once, by the conditional write
that makes it, and its stream record carries the old and the new image. Each event is read off one
transition, so its id is a function of that transition alone (type, provider, the ids that name it): a
retried or replayed stream record gives the same id, and consumers dedupe on it.

    TransactionsTable  Payme 1 -> 2 completed, 1 -> -1 cancelled, 2 -> -2 refunded;
                       Click -> confirmed completed, -> cancelled cancelled, -> reversed refunded
    InvoicesTable      -> paid                                                        invoice.paid
    AutopayTable       a period -> paid: autopay.charged; an autopay deactivated with its failure written
                       (pending_event, in the same write): autopay.failed

Images hold ids, amounts, states and times; a card token is only ever on an autopay's row, as KMS
ciphertext, and no event copies a field that is not named here.
"""

import datetime
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from tolov.autopay.repository import PAID as PERIOD_PAID
from tolov.billing.keys import PaymentKey
from tolov.click.attempt import TxState
from tolov.payme.transaction import CANCELLED, CANCELLED_AFTER_PERFORM, PERFORMED

SOURCE = "tolov"
COMPLETED = "payment.completed"
CANCELLED_TYPE = "payment.cancelled"
REFUNDED = "payment.refunded"
INVOICE_PAID = "invoice.paid"
AUTOPAY_CHARGED = "autopay.charged"
AUTOPAY_FAILED = "autopay.failed"
TYPES = (COMPLETED, CANCELLED_TYPE, REFUNDED, INVOICE_PAID, AUTOPAY_CHARGED, AUTOPAY_FAILED)

Image = Mapping[str, Any]
# The apartment of an autopay (its row is another item than the period's): None when it is gone.
ApartmentOf = Callable[[str], str | None]


class DomainEvent(NamedTuple):
    type: str
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])


def iso_time(time_ms: int) -> str:
    """UTC, millisecond precision, as EventBridge and JSON Schema's date-time read it."""
    moment = datetime.datetime.fromtimestamp(time_ms / 1000, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _tiyin(value: Any) -> int:
    """Amounts are integers in every table; a fraction would be a defect, never rounded away."""
    number = Decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"an amount that is not whole tiyin: {value}")
    return int(number)


def _ms(value: Any) -> int:
    return int(Decimal(value))


def _event(kind: str, subject: str, provider: str, amount: Any, time_ms: Any, **ids: Any) -> DomainEvent:
    detail = {
        "event_id": f"{kind}:{subject}",
        "type": kind,
        "provider": provider,
        "amount": _tiyin(amount),
        "time": iso_time(_ms(time_ms)),
        **{name: value for name, value in ids.items()},
    }
    return DomainEvent(kind, detail)


# ---------------------------------------------------------------------- TransactionsTable


def transaction_events(old: Image | None, new: Image | None) -> list[DomainEvent]:
    if new is None:
        return []  # provider rows are never deleted; a delete is nobody's state change
    key = str(new.get("tx_key", ""))
    if key.startswith("payme#") and "payme_id" in new:
        return _payme(old, new)
    if key.startswith("click#") and "click_trans_id" in new and "state" in new:
        return _click(old, new)
    return []  # Click's prepare aliases and counter


# The state a provider row reaches -> the event and the row's time of it.
_PAYME = {
    PERFORMED: (COMPLETED, "perform_time"),
    CANCELLED: (CANCELLED_TYPE, "cancel_time"),
    CANCELLED_AFTER_PERFORM: (REFUNDED, "cancel_time"),
}
_CLICK = {
    TxState.CONFIRMED.value: (COMPLETED, "confirmed_at"),
    TxState.CANCELLED.value: (CANCELLED_TYPE, "cancelled_at"),
    TxState.REVERSED.value: (REFUNDED, "reversed_at"),
}


def _payme(old: Image | None, new: Image) -> list[DomainEvent]:
    before = None if old is None else int(old["state"])
    account = {"kind": str(new["account_kind"]), "id": str(new["account_ref"])}
    payment = PaymentKey("payme", str(new["payme_id"]))
    return _payment(payment, account, before, int(new["state"]), _PAYME, new)


def _click(old: Image | None, new: Image) -> list[DomainEvent]:
    before = None if old is None else str(old.get("state"))
    account = {"kind": str(new["account"]), "id": str(new["merchant_trans_id"])}
    payment = PaymentKey("click", str(new["click_trans_id"]))
    return _payment(payment, account, before, str(new["state"]), _CLICK, new)


def _payment(
    payment: PaymentKey,
    account: dict[str, str],
    before: Any,
    after: Any,
    transitions: Mapping[Any, tuple[str, str]],
    new: Image,
) -> list[DomainEvent]:
    if before == after or after not in transitions:
        return []
    kind, time_field = transitions[after]
    ids: dict[str, Any] = {
        "transaction_id": payment.external_id,
        "payment_key": str(payment),
        "account": account,
    }
    if kind != COMPLETED:
        ids["reason"] = _reason(new.get("reason"))
    subject = f"{payment.provider}:{payment.external_id}"
    return [_event(kind, subject, payment.provider, new["amount"], new[time_field], **ids)]


def _reason(value: Any) -> str | None:
    return None if value is None else str(value if not isinstance(value, Decimal) else int(value))


# ---------------------------------------------------------------------- InvoicesTable


def invoice_events(old: Image | None, new: Image | None, time_ms: int) -> list[DomainEvent]:
    """time_ms: when the change was written (the stream record's), the invoice keeping no paid time."""
    if new is None or new.get("status") != "paid" or (old is not None and old.get("status") == "paid"):
        return []
    paid_by = sorted(set(new.get("payments") or {}) - set((old or {}).get("payments") or {}))
    payment_key = paid_by[-1] if paid_by else None
    provider = (PaymentKey.provider_of(payment_key) if payment_key else None) or "credit"
    subject = f"{new['invoice_id']}:{payment_key or 'paid'}"
    return [
        _event(
            INVOICE_PAID,
            subject,
            provider,
            new["amount"],
            time_ms,
            invoice_id=str(new["invoice_id"]),
            apartment_id=str(new["apartment_id"]),
            period=str(new["period"]),
            payment_key=payment_key,
        )
    ]


# ---------------------------------------------------------------------- AutopayTable


def autopay_events(old: Image | None, new: Image | None, apartment_of: ApartmentOf) -> list[DomainEvent]:
    if new is None:
        return []
    sk = str(new.get("sk", ""))
    if sk.startswith("period#"):
        return _charged(old, new, apartment_of)
    if sk == "autopay":
        return _failed(old, new)
    return []


def _charged(old: Image | None, new: Image, apartment_of: ApartmentOf) -> list[DomainEvent]:
    if new.get("status") != PERIOD_PAID or (old is not None and old.get("status") == PERIOD_PAID):
        return []
    autopay_id, receipt_id, period = str(new["pk"]), str(new["receipt_id"]), str(new["period"])
    return [
        _event(
            AUTOPAY_CHARGED,
            f"{autopay_id}:{period}:{receipt_id}",
            "payme",
            new["amount"],
            new["updated_at"],
            autopay_id=autopay_id,
            apartment_id=apartment_of(autopay_id),
            period=period,
            receipt_id=receipt_id,
            payment_key=str(PaymentKey("payme", receipt_id)),
        )
    ]


def _json(value: Any) -> Any:
    """pending_event is a JSONAttribute: a JSON string in the image."""
    return json.loads(value) if isinstance(value, str) else value


def _failed(old: Image | None, new: Image) -> list[DomainEvent]:
    """The charger writes the failure's facts with the deactivation, in one conditional write."""
    failure = _json(new.get("pending_event"))
    if not isinstance(failure, Mapping) or (old is not None and _json(old.get("pending_event")) == failure):
        return []
    detail = {
        "event_id": str(failure["event_id"]),
        "type": AUTOPAY_FAILED,
        "provider": str(failure.get("provider", "payme")),
        "amount": _tiyin(failure.get("amount") or 0),  # what the period's charge was for
        "time": iso_time(_ms(failure["at"])),
        "autopay_id": str(failure["autopay_id"]),
        "apartment_id": str(failure["apartment_id"]),
        "period": str(failure["period"]),
        "receipt_id": None if failure.get("receipt_id") is None else str(failure["receipt_id"]),
        "reason": str(failure["reason"]),
        "error_code": None if failure.get("error_code") is None else int(failure["error_code"]),
    }
    return [DomainEvent(AUTOPAY_FAILED, detail)]
