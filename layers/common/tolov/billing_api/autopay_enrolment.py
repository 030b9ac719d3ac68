"""The autopay enrolment over its AWS parts, for the two functions that enrol cards: the billing API's
autopay routes and the resident pages' card form (which import this, not the billing API's routes)."""

from tolov.autopay.dynamo import DynamoAutopayStore
from tolov.autopay.enrolment import Enrolment
from tolov.autopay.vault import CardVault
from tolov.billing.ledger import Ledger
from tolov.clock import Clock, now_ms
from tolov.payme.subscribe_api import build_subscribe_client
from tolov.settings import Settings


def build_enrolment(settings: Settings, clock: Clock = now_ms) -> Enrolment:
    return Enrolment(
        DynamoAutopayStore(),
        build_subscribe_client(settings),
        CardVault(settings.autopay.kms_key_id),
        Ledger(),
        settings.limits,
        settings.autopay.shards,
        clock=clock,
    )
