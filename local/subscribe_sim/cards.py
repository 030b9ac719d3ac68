"""The test cards of Payme's sandbox (reference §5.5) and what a card number can be made to do."""

from enum import StrEnum

TEST_EXPIRE = "0399"  # MMYY, as cards.create takes it
SMS_CODE = "666666"
DEFAULT_BALANCE = 1_000_000_000  # 10 000 000 sum in tiyin


class Behaviour(StrEnum):
    OK = "ok"
    NO_SMS = "no_sms"  # get_verify_code fails
    SYSTEM_ERROR = "system_error"  # receipts.pay fails with -32400
    SLOW = "slow"  # receipts.pay takes SLOW_PAY_S, then fails


class CardStatus(StrEnum):
    OK = "ok"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    REMOVED = "removed"  # an action on /_sim/card: removes the saved tokens, the card stays usable


TEST_CARDS: dict[str, tuple[Behaviour, CardStatus]] = {
    "8600495473316478": (Behaviour.OK, CardStatus.OK),
    "8600069195406311": (Behaviour.OK, CardStatus.OK),
    "8600060921090842": (Behaviour.NO_SMS, CardStatus.OK),
    "3333336415804657": (Behaviour.OK, CardStatus.EXPIRED),
    "4444445987459073": (Behaviour.OK, CardStatus.BLOCKED),
    "8600143417770323": (Behaviour.SYSTEM_ERROR, CardStatus.OK),
    "8600134301849596": (Behaviour.SLOW, CardStatus.OK),
}


def mask_number(number: str) -> str:
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"
