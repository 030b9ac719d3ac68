"""Autopay-enrolment links without AWS: the token's claims, expiry, and the single-use claim's rules over
an in-memory LinkClaims and a recording enrolment."""

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from tolov.autopay.errors import ActiveAutopayExists, CardRefused, ProviderUnavailable
from tolov.autopay.links import (
    LINK_TTL_MS,
    PURPOSE,
    Claim,
    LinkEnrolment,
    LinkForged,
    LinkGone,
    LinkTaken,
    issue,
    read,
)
from tolov.signing import Signer

SIGNER = Signer(b"s" * 32)
NOW = 1_800_000_000_123


class MemoryClaims:
    def __init__(self) -> None:
        self.rows: dict[str, Claim] = {}
        self.lock = threading.Lock()

    def claim(self, nonce: str, card: str, expires_at: int, now: int) -> Claim:
        with self.lock:
            held = self.rows.get(nonce)
            if held is not None and held.card != card:
                raise LinkTaken(nonce)
            self.rows[nonce] = held or Claim(card, None)
            return self.rows[nonce]

    def get(self, nonce: str) -> Claim | None:
        return self.rows.get(nonce)

    def completed(self, nonce: str, card: str, autopay_id: str) -> None:
        assert self.rows[nonce].card == card
        self.rows[nonce] = Claim(card, autopay_id)

    def release(self, nonce: str, card: str) -> None:
        if self.rows.get(nonce) == Claim(card, None):
            del self.rows[nonce]


@dataclass
class View:
    autopay: Any


@dataclass
class Autopay:
    autopay_id: str


@dataclass
class RecordingEnrolment:
    """enrol() as Enrolment's contract has it: the same card again is the same autopay, created=False."""

    refuse: Exception | None = None
    by_card: dict[str, str] = field(default_factory=dict)
    enrolled: list[tuple[str, str, int, int]] = field(default_factory=list)

    def enrol(self, apartment_id: str, card_token: str, day: int, cap: int) -> tuple[View, bool]:
        if self.refuse is not None:
            raise self.refuse
        self.enrolled.append((apartment_id, card_token, day, cap))
        if card_token in self.by_card:
            return View(Autopay(self.by_card[card_token])), False
        if self.by_card:
            raise ActiveAutopayExists(next(iter(self.by_card.values())))
        self.by_card[card_token] = f"ap_{len(self.by_card)}"
        return View(Autopay(self.by_card[card_token])), True

    def get(self, autopay_id: str) -> View:
        return View(Autopay(autopay_id))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


def world(**enrolment: Any) -> tuple[LinkEnrolment, RecordingEnrolment, MemoryClaims, Clock]:
    recording, claims, clock = RecordingEnrolment(**enrolment), MemoryClaims(), Clock()
    return LinkEnrolment(recording, claims, SIGNER, clock), recording, claims, clock  # type: ignore[arg-type]


def test_a_link_names_its_apartment_day_and_cap_and_lasts_24_hours_to_the_second() -> None:
    token, link = issue(SIGNER, "apt-1", 5, 50_000_00, NOW)
    assert read(SIGNER, token) == link
    assert (link.apartment_id, link.day_of_month, link.max_amount) == ("apt-1", 5, 50_000_00)
    assert link.expires_at == NOW // 1000 * 1000 + LINK_TTL_MS and link.expires_at % 1000 == 0
    assert issue(SIGNER, "apt-1", 5, 50_000_00, NOW)[1].nonce != link.nonce  # every link its own


@pytest.mark.parametrize(
    "claims",
    [{"a": 1, "d": 5, "m": 1, "n": "n", "e": 1}, {"a": "x", "d": "5", "m": 1, "n": "n", "e": 1},
     {"a": "x", "d": 5, "m": True, "n": "n", "e": 1}, {"a": "x", "d": 5, "m": 1, "e": 1}],
)  # fmt: skip
def test_claims_of_the_wrong_shape_are_not_a_link(claims: dict[str, Any]) -> None:
    with pytest.raises(LinkForged):
        read(SIGNER, SIGNER.seal(PURPOSE, claims))


def test_a_token_signed_for_anything_else_is_forged() -> None:
    token, _ = issue(SIGNER, "apt-1", 5, 100, NOW)
    with pytest.raises(LinkForged):
        read(Signer(b"o" * 32), token)
    with pytest.raises(LinkForged):
        read(SIGNER, SIGNER.seal("pay-page", {"a": "apt-1", "d": 5, "m": 100, "n": "n", "e": NOW}))


def test_one_link_one_enrolment_and_its_retry_is_the_same() -> None:
    links, recording, claims, _ = world()
    token, link = issue(SIGNER, "apt-1", 5, 100, NOW)
    assert links.open(token) == link
    view, created = links.enrol(token, "card-a")
    assert created and recording.enrolled == [("apt-1", "card-a", 5, 100)]
    again, created = links.enrol(token, "card-a")
    assert (again.autopay.autopay_id, created) == (view.autopay.autopay_id, False)
    assert len(recording.enrolled) == 1  # answered from the claim, not enrolled again
    with pytest.raises(LinkGone) as gone:
        links.enrol(token, "card-b")
    assert gone.value.reason == "used"
    with pytest.raises(LinkGone):
        links.open(token)
    assert "card-a" not in repr(claims.rows)  # a keyed hash of the card token, never the token


def test_after_expiry_only_its_own_finished_enrolment_is_answered() -> None:
    links, _, _, clock = world()
    token, link = issue(SIGNER, "apt-1", 5, 100, NOW)
    view, _ = links.enrol(token, "card-a")
    clock.now = link.expires_at
    assert links.enrol(token, "card-a")[0].autopay.autopay_id == view.autopay.autopay_id
    with pytest.raises(LinkGone) as gone:
        links.enrol(token, "card-b")
    assert gone.value.reason == "expired"
    fresh, _ = issue(SIGNER, "apt-1", 5, 100, NOW)
    with pytest.raises(LinkGone):
        links.enrol(fresh, "card-a")
    with pytest.raises(LinkGone):
        links.open(fresh)


def test_a_refusal_gives_the_link_back_an_unknown_outcome_keeps_it_for_the_card() -> None:
    links, recording, claims, _ = world(refuse=CardRefused("card is not recurrent"))
    token, link = issue(SIGNER, "apt-1", 5, 100, NOW)
    with pytest.raises(CardRefused):
        links.enrol(token, "card-a")
    assert claims.get(link.nonce) is None
    recording.refuse = ProviderUnavailable("Payme did not answer")
    with pytest.raises(ProviderUnavailable):
        links.enrol(token, "card-b")
    assert claims.get(link.nonce) is not None
    recording.refuse = None
    with pytest.raises(LinkGone):
        links.enrol(token, "card-c")
    assert links.enrol(token, "card-b")[1] is True


def test_the_same_card_twice_at_once_is_one_autopay() -> None:
    links, recording, _, _ = world()
    token, _ = issue(SIGNER, "apt-1", 5, 100, NOW)
    barrier, results = threading.Barrier(2), []

    def run() -> None:
        barrier.wait()
        results.append(links.enrol(token, "card-a")[0].autopay.autopay_id)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(recording.by_card) == 1
