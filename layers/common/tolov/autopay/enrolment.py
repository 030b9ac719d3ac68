"""Enrolment: a resident's saved Payme card becomes an autopay of their apartment, and stops being one.

One active autopay per apartment and provider: the autopay is written together with the key
active#<apartment>#<provider>, on condition that the key is free (never a read first). The card must be
verified and recurrent by cards.check; its token is stored encrypted and never returned.
"""

import contextlib
import hmac
import secrets
from typing import NamedTuple

from tolov.autopay.declines import Decline, card_problem, classify, reason_of
from tolov.autopay.errors import (
    ActiveAutopayExists,
    AutopayNotFound,
    CardRefused,
    MaxAmountTooLow,
    ProviderUnavailable,
)
from tolov.autopay.repository import ACTIVE, Attempt, Autopay, AutopayStore, Deactivation
from tolov.autopay.schedule import first_due, shard_of
from tolov.autopay.subscribe import Subscribe
from tolov.autopay.vault import Vault
from tolov.billing.errors import StateChanged, TransactionExists
from tolov.billing.ledger import Ledger
from tolov.clock import Clock, now_ms, tashkent_date
from tolov.payme.subscribe_api import Card, SubscribeError
from tolov.settings import ApartmentLimits
from tolov.store.engine import StoreUnavailable

PROVIDER = "payme"
ATTEMPTS_SHOWN = 100
CANCELLED = "cancelled"  # inactive_reason of a DELETE


def new_autopay_id() -> str:
    return f"ap_{secrets.token_hex(10)}"


class AutopayView(NamedTuple):
    autopay: Autopay
    attempts: list[Attempt]


class Enrolment:
    def __init__(
        self,
        store: AutopayStore,
        subscribe: Subscribe,
        vault: Vault,
        ledger: Ledger,
        limits: ApartmentLimits,
        shards: int,
        *,
        clock: Clock = now_ms,
    ) -> None:
        self.store = store
        self.subscribe = subscribe
        self.vault = vault
        self.ledger = ledger
        self.limits = limits
        self.shards = shards
        self.clock = clock

    def enrol(
        self, apartment_id: str, card_token: str, day_of_month: int, max_amount: int
    ) -> tuple[AutopayView, bool]:
        """(the autopay, created). The same enrolment again (same card, day and cap) is that autopay,
        created=False: a retry after a lost reply recognises its own success."""
        self.ledger.apartment(apartment_id, attributes=["apartment_id"])  # ApartmentNotFound
        if max_amount < self.limits.min_tiyin:
            raise MaxAmountTooLow(self.limits.min_tiyin)
        card = self._usable(card_token)
        for _ in range(3):
            now = self.clock()
            autopay_id = new_autopay_id()
            due = first_due(tashkent_date(now), day_of_month)
            autopay = Autopay(
                autopay_id=autopay_id,
                apartment_id=apartment_id,
                provider=PROVIDER,
                card_number=card.number,
                card_expire=card.expire,
                sealed_token=self.vault.seal(card_token, autopay_id),
                day_of_month=day_of_month,
                max_amount=max_amount,
                status=ACTIVE,
                created_at=now,
                due_date=due.date,
                due_period=due.period,
            )
            try:
                self.store.create(autopay, shard_of(autopay_id, self.shards))
                return AutopayView(autopay, []), True
            except TransactionExists as taken:
                holder_id = str(taken.args[0])
                if holder_id == autopay_id:  # our own write landed and its reply was lost
                    return self._view(autopay), True
                holder = self.store.get(holder_id)
                if holder is not None and self._same(holder, card_token, day_of_month, max_amount):
                    return self._view(holder), False
                raise ActiveAutopayExists(holder_id) from None
            except StateChanged:
                continue  # the holder was deactivated between our write and our read: try again
        raise StoreUnavailable("the apartment's active autopay kept changing")

    def get(self, autopay_id: str) -> AutopayView:
        autopay = self.store.get(autopay_id)
        if autopay is None:
            raise AutopayNotFound(autopay_id)
        return self._view(autopay)

    def of_apartment(self, apartment_id: str) -> list[AutopayView]:
        self.ledger.apartment(apartment_id, attributes=["apartment_id"])  # ApartmentNotFound
        return [self._view(autopay) for autopay in self.store.of_apartment(apartment_id)]

    def cancel(self, autopay_id: str) -> AutopayView:
        """Inactive first (no charge starts after this), then the card removed at Payme. A failed removal
        answers "retry"; the retry finds the autopay inactive and removes the card."""
        autopay = self.get(autopay_id).autopay
        if autopay.active:
            with contextlib.suppress(StateChanged):  # deactivated meanwhile (a declined card, another DELETE)
                self.store.deactivate(autopay_id, Deactivation(CANCELLED), self.clock())
        if autopay.card_removed_at is None:
            try:
                self.subscribe.cards_remove(self.vault.open(autopay.sealed_token, autopay_id))
            except SubscribeError as error:
                if classify(error) is not Decline.CARD_UNUSABLE:  # a token Payme no longer has is removed
                    raise ProviderUnavailable(
                        "the autopay is inactive; Payme did not remove the card"
                    ) from None
            self.store.card_removed(autopay_id, self.clock())
        return self.get(autopay_id)

    # ------------------------------------------------------------------ rules
    def _usable(self, card_token: str) -> Card:
        try:
            card = self.subscribe.cards_check(card_token)
        except SubscribeError as error:
            kind = classify(error)
            if kind in (Decline.UNKNOWN_OUTCOME, Decline.UNAVAILABLE, Decline.OUR_SIDE):
                raise ProviderUnavailable("Payme did not check the card") from None
            raise CardRefused(reason_of(error), error.code) from None
        problem = card_problem(card)
        if problem is not None:
            raise CardRefused(problem)
        return card

    def _same(self, autopay: Autopay, card_token: str, day_of_month: int, max_amount: int) -> bool:
        if (autopay.day_of_month, autopay.max_amount) != (day_of_month, max_amount):
            return False
        stored = self.vault.open(autopay.sealed_token, autopay.autopay_id)
        return hmac.compare_digest(stored.encode(), card_token.encode())

    def _view(self, autopay: Autopay) -> AutopayView:
        return AutopayView(autopay, self.store.attempts(autopay.autopay_id, ATTEMPTS_SHOWN))
