"""Autopay-enrolment links: a signed token naming the apartment, the day of month and the cap, valid for
24 hours and good for one enrolment, through which a resident saves a card without an API key.

Single use is a conditional write, not a read first: the link's claim is taken on condition that it is
free or already taken by the same card (a keyed hash of the card token; the token itself is never kept
here). So:
- another card on a used link: 410;
- the same link and card again (a retry after a lost reply): the claim is its own, and the enrolment
  (itself retry-safe) or the autopay the claim records answers with the same autopay;
- a refusal that wrote nothing (the card refused, an apartment that has an autopay already) gives the
  claim back, so the resident can try another card with the same link.
An unknown outcome (Payme or the store did not answer) keeps the claim: only the same card can go on.
"""

import hmac
import secrets
from typing import TYPE_CHECKING, NamedTuple, Protocol

from tolov.autopay.errors import (
    ActiveAutopayExists,
    CardRefused,
    LinkForged,
    LinkGone,
    MaxAmountTooLow,
)
from tolov.billing.errors import ApartmentNotFound
from tolov.clock import Clock, now_ms
from tolov.signing import BadSignature, Signer

if TYPE_CHECKING:  # the billing API issues links without importing the enrolment (its cold start)
    from tolov.autopay.enrolment import AutopayView, Enrolment

PURPOSE = "autopay-enrol"
CARD_PURPOSE = "autopay-enrol-card"
LINK_TTL_MS = 24 * 3_600_000


class EnrolLink(NamedTuple):
    apartment_id: str
    day_of_month: int
    max_amount: int
    nonce: str
    expires_at: int  # ms


class Claim(NamedTuple):
    card: str  # the keyed hash of the card token that holds the link
    autopay_id: str | None


class LinkTaken(Exception):
    """Another card holds the link's claim."""


class LinkClaims(Protocol):
    def claim(self, nonce: str, card: str, expires_at: int, now: int) -> Claim:
        """Take the claim, or find it taken by the same card; LinkTaken otherwise."""

    def get(self, nonce: str) -> Claim | None: ...

    def completed(self, nonce: str, card: str, autopay_id: str) -> None:
        """Record the autopay the claim made (again is fine)."""

    def release(self, nonce: str, card: str) -> None:
        """Give back a claim of this card that made no autopay."""


def issue(
    signer: Signer, apartment_id: str, day_of_month: int, max_amount: int, now: int
) -> tuple[str, EnrolLink]:
    expires_at = now // 1000 * 1000 + LINK_TTL_MS  # whole seconds, as expires_at is shown
    link = EnrolLink(apartment_id, day_of_month, max_amount, secrets.token_urlsafe(12), expires_at)
    claims = {"a": apartment_id, "d": day_of_month, "m": max_amount, "n": link.nonce, "e": link.expires_at}
    return signer.seal(PURPOSE, claims), link


def read(signer: Signer, token: str | None) -> EnrolLink:
    """The link a token names; LinkForged unless we signed it for enrolment. Expiry is the caller's."""
    try:
        claims = signer.unseal(PURPOSE, token)
    except BadSignature:
        raise LinkForged("the link is not valid") from None
    apartment_id, day, cap, nonce, expires = (claims.get(k) for k in ("a", "d", "m", "n", "e"))
    if not (
        isinstance(apartment_id, str)
        and isinstance(nonce, str)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in (day, cap, expires))
    ):
        raise LinkForged("the link is not valid")
    return EnrolLink(apartment_id, int(day), int(cap), nonce, int(expires))  # type: ignore[arg-type]


class LinkEnrolment:
    """POST /autopay/enrol: the link's claim, then the enrolment POST /autopay makes."""

    def __init__(
        self, enrolment: "Enrolment", claims: LinkClaims, signer: Signer, clock: Clock = now_ms
    ) -> None:
        self.enrolment = enrolment
        self.claims = claims
        self.signer = signer
        self.clock = clock

    def open(self, token: str | None) -> EnrolLink:
        """The link for its page: LinkForged, or LinkGone when it has expired or was used."""
        link = read(self.signer, token)
        if self.clock() >= link.expires_at:
            raise LinkGone("expired")
        if self.claims.get(link.nonce) is not None:
            raise LinkGone("used")
        return link

    def enrol(self, token: str | None, card_token: str) -> tuple["AutopayView", bool]:
        link = read(self.signer, token)
        card = self.signer.tag(CARD_PURPOSE, card_token)
        if self.clock() >= link.expires_at:
            done = self.claims.get(link.nonce)
            if done is not None and done.autopay_id and hmac.compare_digest(done.card, card):
                return self.enrolment.get(done.autopay_id), False  # its own success, answered again
            raise LinkGone("expired")
        try:
            claim = self.claims.claim(link.nonce, card, link.expires_at, self.clock())
        except LinkTaken:
            raise LinkGone("used") from None
        if claim.autopay_id:
            return self.enrolment.get(claim.autopay_id), False
        try:
            view, created = self.enrolment.enrol(
                link.apartment_id, card_token, link.day_of_month, link.max_amount
            )
        except (CardRefused, MaxAmountTooLow, ApartmentNotFound, ActiveAutopayExists):
            self.claims.release(link.nonce, card)  # nothing was written: the link may be used again
            raise
        self.claims.completed(link.nonce, card, view.autopay.autopay_id)
        return view, created
