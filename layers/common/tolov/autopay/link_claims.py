"""The claims of autopay-enrolment links in AutopayTable (pk enrol_link#<nonce>): the adapter of
tolov.autopay.links.LinkClaims. It reads and writes on conditions; links.py decides."""

import contextlib

from tolov.autopay.links import Claim, LinkTaken
from tolov.store.autopay_models import ENROL_LINK_SK, EnrolLinkClaim
from tolov.store.engine import Action, ConditionFailed, conditional


def claim_key(nonce: str) -> str:
    return f"enrol_link#{nonce}"  # autopay ids start with ap_, active keys with active#


class DynamoLinkClaims:
    def claim(self, nonce: str, card: str, expires_at: int, now: int) -> Claim:
        row = EnrolLinkClaim(claim_key(nonce), ENROL_LINK_SK)
        free_or_ours = EnrolLinkClaim.key.does_not_exist() | (EnrolLinkClaim.card == card)
        actions: list[Action] = [
            EnrolLinkClaim.card.set(card),
            EnrolLinkClaim.expires_at.set(expires_at),
            EnrolLinkClaim.claimed_at.set(EnrolLinkClaim.claimed_at | now),  # the first claim's time
        ]
        try:
            conditional(lambda: row.update(actions=actions, condition=free_or_ours))
        except ConditionFailed:
            raise LinkTaken(nonce) from None
        return Claim(row.card, row.autopay_id)

    def get(self, nonce: str) -> Claim | None:
        try:
            row = EnrolLinkClaim.get(claim_key(nonce), ENROL_LINK_SK, consistent_read=True)
        except EnrolLinkClaim.DoesNotExist:
            return None
        return Claim(row.card, row.autopay_id)

    def completed(self, nonce: str, card: str, autopay_id: str) -> None:
        row = EnrolLinkClaim(claim_key(nonce), ENROL_LINK_SK)
        unset_or_same = EnrolLinkClaim.autopay_id.does_not_exist() | (EnrolLinkClaim.autopay_id == autopay_id)
        condition = (EnrolLinkClaim.card == card) & unset_or_same
        conditional(
            lambda: row.update(actions=[EnrolLinkClaim.autopay_id.set(autopay_id)], condition=condition)
        )

    def release(self, nonce: str, card: str) -> None:
        row = EnrolLinkClaim(claim_key(nonce), ENROL_LINK_SK)
        ours_and_unused = (EnrolLinkClaim.card == card) & EnrolLinkClaim.autopay_id.does_not_exist()
        with contextlib.suppress(ConditionFailed):  # already given back, or another card's by now
            conditional(lambda: row.delete(condition=ours_and_unused))
