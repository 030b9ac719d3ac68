"""What autopay calls of the Payme Subscribe API: the port its enrolment and charger are written against.

tolov.payme.subscribe_api.SubscribeClient has these methods (and more); the tests' in-memory Subscribe
API has them too. The client, its errors, the receipt states and build_subscribe_client are that module's:
autopay imports them from there.
"""

from typing import Any, Protocol

from tolov.payme.subscribe_api import Card, Receipt


class Subscribe(Protocol):
    def cards_check(self, token: str) -> Card: ...

    def cards_remove(self, token: str) -> bool: ...

    def receipts_create(
        self,
        amount: int,
        account: dict[str, str],
        *,
        description: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Receipt: ...

    def receipts_pay(
        self, receipt_id: str, token: str, *, payer: dict[str, Any] | None = None
    ) -> Receipt: ...

    def receipts_cancel(self, receipt_id: str) -> Receipt: ...

    def receipts_check(self, receipt_id: str) -> int: ...

    def receipts_get(self, receipt_id: str) -> Receipt: ...
