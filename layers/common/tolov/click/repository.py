"""What the SHOP-API core needs from storage and the reversal queue.

The core (shop_api.py) decides; an implementation (dynamo.py: DynamoDB through the billing ledger) makes
each state change one conditional write or transaction. Like every payment path it raises
tolov.billing.errors.StateChanged for a lost race (TransactionExists when a new attempt's key is taken),
the ledger's own refusals as they are, and tolov.store.engine.StoreUnavailable when the store did not
answer; the core then reads again and decides from what is now true.
"""

from typing import Protocol

from tolov.click.attempt import Account, AccountKind, ClickTx, ReversalRequest, TxState


class ClickRepository(Protocol):
    # complete_trans_id: the click_trans_id of a Complete that came under another id than the attempt's
    # own, recorded on the attempt; the posting stays keyed by the attempt's.

    def get(self, click_trans_id: str) -> ClickTx | None: ...

    def find_by_prepare_id(self, prepare_id: int) -> ClickTx | None:
        """The attempt whose Prepare was answered with this merchant_prepare_id, read by key."""
        ...

    def find_account(self, merchant_trans_id: str, kind: AccountKind | None = None) -> Account | None:
        """The invoice with this id, else the apartment (or only the given kind)."""
        ...

    def next_prepare_id(self) -> int:
        """A merchant_prepare_id for a new attempt; create() refuses one already taken (StateChanged)."""
        ...

    def create(self, tx: ClickTx, account: Account, now: int, *, retire: str | None = None) -> None:
        """Store a new prepared attempt and what finds it by prepare id; for an invoice, reserve it in the
        same write, taking the reservation over from the Click attempt `retire` (which is cancelled in that
        write) when given. Raises TransactionExists when the attempt exists, StateChanged when its prepare
        id is taken (draw another) or the attempt to retire moved, the ledger's refusal when the invoice
        changed."""
        ...

    def confirm(
        self,
        tx: ClickTx,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
        *,
        account: Account | None = None,
    ) -> None:
        """prepared -> confirmed, recording `token`, together with the ledger posting (`account`: the
        account as just read for this decision, so it need not be read again). Raises StateChanged
        when the attempt moved or its posting exists already (the token on the row says whose it was),
        the ledger's refusal (InvoiceLocked, AmountMismatch, ...) as it is."""
        ...

    def cancel(
        self,
        tx: ClickTx,
        reason: str,
        click_error: int | None,
        now: int,
        complete_trans_id: str | None = None,
    ) -> None:
        """prepared -> cancelled, dropping the invoice reservation if the attempt still holds it."""
        ...

    def mark_unposted(
        self,
        tx: ClickTx,
        reason: str,
        click_paydoc_id: str,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
        *,
        was: TxState = TxState.PREPARED,
    ) -> None:
        """`was` (prepared, or cancelled when a queued Complete Click was told 0 for finds it so) ->
        confirmed_unposted, recording `token`, dropping the reservation: the debit is to be reversed."""
        ...

    def mark_reversed(self, click_trans_id: str, now: int) -> None:
        """confirmed_unposted -> reversed, once Click has refunded the payment."""
        ...


class ReversalQueue(Protocol):
    def enqueue(self, request: ReversalRequest) -> None: ...
