"""The billing API contract: the request models and the reply shapes (TypedDicts: see resident_schemas);
Powertools validates both and builds the OpenAPI from them."""

from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal, NotRequired, TypedDict

from pydantic import ConfigDict, Field, StrictInt, field_validator

from tolov.billing.keys import PaymentKey
from tolov.billing_api.resident_schemas import AutopayOut, Id, PaymentLinks, Schema
from tolov.clock import now_ms

if TYPE_CHECKING:
    from tolov.billing.invoices import Balance
    from tolov.store.models import Apartment, Invoice, Posting

Day = date
Tiyin = Annotated[StrictInt, Field(gt=0, le=10**13, description="integer tiyin (1 sum = 100 tiyin)")]


class ApartmentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    label: Annotated[str, Field(min_length=1, max_length=200)]
    resident_id: Id


class ApartmentOut(TypedDict):
    apartment_id: str
    label: str
    resident_id: str
    credit: int


class ItemIn(Schema):
    model_config = ConfigDict(extra="forbid")
    service: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    title: Annotated[str, Field(min_length=1, max_length=128)]
    amount: Tiyin = Field(description="unit price, integer tiyin")
    count: Annotated[StrictInt, Field(ge=1, le=10**6)] = 1
    ikpu: Annotated[str, Field(pattern=r"^\d{17}$", description="IKPU/MXIK product code")]
    package_code: Annotated[str, Field(pattern=r"^\d{1,20}$")]
    vat_percent: Annotated[StrictInt, Field(ge=0, le=100)]


class InvoiceIn(Schema):
    model_config = ConfigDict(extra="forbid")
    apartment_id: Id
    period: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=50)]
    due_date: date | None = None

    @field_validator("items")
    @classmethod
    def one_line_per_service(cls, items: list[ItemIn]) -> list[ItemIn]:
        # A service is one charge per period in the ledger; two lines of it would be one debt counted twice.
        services = [item.service for item in items]
        if len(set(services)) != len(services):
            raise ValueError("each service may appear once per invoice")
        return items


class ItemOut(TypedDict):
    service: str
    title: str
    amount: int
    count: int
    ikpu: str
    package_code: str
    vat_percent: int


class PaymentOut(TypedDict):
    payment_key: str
    provider: str
    transaction_id: str
    amount: Annotated[int, Field(description="tiyin of this payment posted to this invoice")]
    posted_at: int
    reversed_at: int | None


_PAY_URL = "the resident's bill page (signed when PAY_PAGE_REQUIRE_SIGNED=1)"


class InvoiceOut(TypedDict):
    invoice_id: str
    apartment_id: str
    period: str
    amount: int
    paid_amount: int
    status: str
    items: list[ItemOut]
    due_date: str | None
    payment_links: Annotated[PaymentLinks | None, Field(description="null once nothing is left to pay")]
    pay_url: NotRequired[Annotated[str | None, Field(description=_PAY_URL)]]
    payments: list[PaymentOut]
    credit_applied: Annotated[int, Field(description="tiyin of earlier overpayment that paid this invoice")]
    created_at: int


class ChargeOut(TypedDict):
    invoice_id: str
    period: str
    service: str
    title: str
    amount: int
    paid_amount: int
    debt: int


class BalanceOut(TypedDict):
    apartment_id: str
    debt: int
    credit: int
    charges: list[ChargeOut]


def apartment_out(apartment: "Apartment") -> ApartmentOut:
    return ApartmentOut(
        apartment_id=apartment.apartment_id,
        label=apartment.label,
        resident_id=apartment.resident_id,
        credit=int(apartment.credit),
    )


def invoice_out(
    invoice: "Invoice", postings: list["Posting"], links: PaymentLinks | None, pay_url: str | None = None
) -> InvoiceOut:
    paid_by: dict[str, int] = invoice.payments.as_dict() if invoice.payments else {}
    payments = []
    for posting in postings:
        key = PaymentKey.parse(posting.payment_key)
        payments.append(
            PaymentOut(
                payment_key=posting.payment_key,
                provider=key.provider,
                transaction_id=key.external_id,
                amount=int(paid_by.get(posting.payment_key, 0)),
                posted_at=int(posting.posted_at),
                reversed_at=None if posting.reversed_at is None else int(posting.reversed_at),
            )
        )
    return InvoiceOut(
        invoice_id=invoice.invoice_id,
        apartment_id=invoice.apartment_id,
        period=invoice.period,
        amount=int(invoice.amount),
        paid_amount=int(invoice.paid_amount),
        status=invoice.status,
        items=[
            ItemOut(
                service=i.service,
                title=i.title,
                amount=int(i.amount),
                count=int(i.count),
                ikpu=i.ikpu,
                package_code=i.package_code,
                vat_percent=int(i.vat_percent),
            )
            for i in invoice.items
        ],
        due_date=invoice.due_date,
        payment_links=links,
        pay_url=pay_url,
        payments=payments,
        credit_applied=int(paid_by.get("credit", 0)),
        created_at=int(invoice.created_at),
    )


def balance_out(balance: "Balance") -> BalanceOut:
    return BalanceOut(
        apartment_id=balance.apartment_id,
        debt=balance.debt,
        credit=balance.credit,
        charges=[
            ChargeOut(
                invoice_id=c.invoice_id,
                period=c.period,
                service=c.service,
                title=c.title,
                amount=int(c.amount),
                paid_amount=int(c.paid_amount),
                debt=int(c.unpaid),
            )
            for c in balance.charges
        ],
    )


# ---------------------------------------------------------------------- autopay
class AutopayIn(Schema):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    apartment_id: Id
    provider: Literal["payme"]
    card_token: Annotated[
        str, Field(min_length=1, max_length=2048, repr=False, description="cards.create/cards.verify token")
    ]
    day_of_month: Annotated[StrictInt, Field(ge=1, le=28, description="the day of each month it charges")]
    max_amount: Tiyin = Field(description="the most one charge takes, integer tiyin")


class ApartmentAutopaysOut(TypedDict):
    apartment_id: str
    autopays: Annotated[list[AutopayOut], Field(description="newest first")]


class AutopayLinkIn(Schema):
    model_config = ConfigDict(extra="forbid")
    day_of_month: Annotated[StrictInt, Field(ge=1, le=28, description="the day of each month it charges")]
    max_amount: Tiyin = Field(description="the most one charge takes, integer tiyin")


class AutopayLinkOut(TypedDict):
    url: Annotated[str, Field(description="the resident's card page, GET /autopay/enrol?t=<signed token>")]
    expires_at: Annotated[str, Field(description="ISO 8601 UTC; the link enrols once, until then")]


class AutopayRunIn(Schema):
    model_config = ConfigDict(extra="forbid")
    date: Day = Field(description="YYYY-MM-DD: today (Tashkent) or a day before it")

    @field_validator("date")
    @classmethod
    def not_in_the_future(cls, value: Day) -> Day:
        # Imported here: the schedule (and the autopay store's types) load only for a run, not at the
        # cold start of the two functions that import these schemas.
        from tolov.autopay.schedule import run_date

        return run_date(value, now_ms())


class AutopayRunOut(TypedDict):
    date: str
    queued: Annotated[
        int, Field(description="messages this run sent: autopays due and not yet paid for the period")
    ]
