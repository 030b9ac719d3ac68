"""Domain errors of the billing core, and the contract every payment path keeps with it.

Each payment path (the Payme Merchant API, the Click SHOP-API, the autopay charger) raises the same three
exceptions for the same three situations, so that their protocol cores read alike: StateChanged for a lost
race (read again and decide from what is stored), TransactionExists for a payment attempt whose key is
already taken (read it and answer from it), LedgerContention when the ledger kept changing under us
(answer "try again"). AlreadyPosted is the StateChanged of a posting whose key another path of the same
payment took first. Each protocol core maps these and the billing refusals below to its own replies,
in one table of its own.
"""


class BillingError(Exception):
    """Base class: a rule of the ledger refused the operation."""


class ApartmentNotFound(BillingError):
    pass


class InvoiceNotFound(BillingError):
    pass


class InvoiceAlreadyPaid(BillingError):
    pass


class InvoiceCancelled(BillingError):
    pass


class AmountMismatch(BillingError):
    def __init__(self, expected: int) -> None:
        super().__init__(f"amount must equal the unpaid amount {expected}")
        self.expected = expected


class InvoiceConflict(BillingError):
    """Services of the new invoice are already billed for its period, and not by an identical invoice."""

    def __init__(self, invoice_id: str, period: str, taken: dict[int, str]) -> None:
        services = ", ".join(taken.values())
        super().__init__(f"{services} already billed for {period} (invoice {invoice_id})")
        self.invoice_id = invoice_id  # the invoice holding the first of them
        self.period = period
        self.taken = taken  # position among the items given -> service


class InvoiceLocked(BillingError):
    """Another payment attempt currently reserves the invoice: `holder` (its payment key) since `since`
    (ms), as the refusing read saw them, so the caller can judge that holder without reading again."""

    def __init__(self, invoice_id: str, holder: str | None = None, since: int | None = None) -> None:
        super().__init__(invoice_id)
        self.invoice_id = invoice_id
        self.holder = holder
        self.since = since


class InvoiceBusy(BillingError):
    """The invoice cannot be cancelled: it is paid, partly paid or has a payment in progress."""


class PostingNotFound(BillingError):
    pass


class LedgerContention(BillingError):
    """The ledger changed under us more times than we retry; the caller may answer 'try again'."""


class StateChanged(Exception):
    """A lost race: the payment attempt left the state the write was conditioned on."""


class TransactionExists(StateChanged):
    """A new payment attempt's key is taken: an earlier or concurrent delivery of the same attempt."""


class AlreadyPosted(StateChanged):
    """The payment's key is posted already, so this change moved nothing in the ledger: an earlier or
    concurrent delivery of the same change posted it, or another path of the same payment did (the
    autopay charger posts a paid Subscribe receipt under the key Payme's PerformTransaction for that
    receipt uses). The core reads again and decides whether only its own state is left to record."""
