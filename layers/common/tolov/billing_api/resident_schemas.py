"""The models of the billing API's contract that the resident pages answer with too: the pay links, the card
form's body, an autopay. Apart from tolov.billing_api.schemas so that the pages' cold start defines these
few models, not the whole contract."""

from typing import TYPE_CHECKING, Annotated, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from tolov.autopay.enrolment import AutopayView

# Ids travel inside Payme links (';' and '=' are separators there) and ledger keys ('#'): keep them plain.
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Schema(BaseModel):
    """Every model of the contract (here and in tolov.billing_api.schemas). Its validator is built on first
    use, not when the class is defined: a container uses only some of them (the resident pages two, a
    billing API container the routes it is asked), and building all of them cost every cold start ~12 ms
    CPU (bench/cold_start.py). Requests only: a reply's shape is a TypedDict (see PaymentLinks)."""

    model_config = ConfigDict(defer_build=True)


# A reply's shape is a TypedDict, not a model: Powertools validates and serializes a route's reply
# against its return type through pydantic either way, and documents it the same in the OpenAPI, but a
# TypedDict class costs about a quarter of a model class to define (five fields: 66 against 254 µs CPU),
# about 12 M instructions less at the billing API's cold start (bench/cold_start.py). The contract's
# models are the requests, whose validation errors are the API's 422s.
class PaymentLinks(TypedDict):
    payme: str
    click: str


class CardOut(TypedDict):
    number: Annotated[str, Field(description="masked, as Payme shows it")]
    expire: str


class AttemptOut(TypedDict):
    period: str
    receipt_id: str | None
    amount: int
    outcome: Literal["paid", "declined", "failed", "in_flight", "skipped"]
    error_code: Annotated[int | None, Field(description="Payme's error code, when it gave one")]
    at: Annotated[int, Field(description="ms, when this outcome was recorded")]


class AutopayOut(TypedDict):
    autopay_id: str
    apartment_id: str
    provider: str
    card: CardOut
    day_of_month: int
    max_amount: int
    status: Literal["active", "inactive"]
    next_charge_date: Annotated[str | None, Field(description="YYYY-MM-DD of the next run that charges it")]
    attempts: Annotated[list[AttemptOut], Field(description="newest first")]
    inactive_reason: Annotated[str | None, Field(description="cancelled (DELETE) or card_declined")]
    created_at: int


class EnrolIn(Schema):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    t: Annotated[str, Field(min_length=1, max_length=1024, description="the link's signed token")]
    card_token: Annotated[
        str, Field(min_length=1, max_length=2048, repr=False, description="the cards.verify token")
    ]


def autopay_out(view: "AutopayView") -> AutopayOut:
    autopay = view.autopay
    return AutopayOut(
        autopay_id=autopay.autopay_id,
        apartment_id=autopay.apartment_id,
        provider=autopay.provider,
        card=CardOut(number=autopay.card_number, expire=autopay.card_expire),
        day_of_month=autopay.day_of_month,
        max_amount=autopay.max_amount,
        status="active" if autopay.active else "inactive",
        next_charge_date=autopay.due_date if autopay.active else None,
        attempts=[
            AttemptOut(
                period=a.period,
                receipt_id=a.receipt_id,
                amount=a.amount,
                outcome=a.outcome.value,
                error_code=a.error_code,
                at=a.at,
            )
            for a in view.attempts
        ],
        inactive_reason=autopay.inactive_reason,
        created_at=autopay.created_at,
    )
