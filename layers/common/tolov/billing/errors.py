"""Domain errors of the billing core; the functions map them to HTTP or provider replies in one place."""


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
    """Another payment attempt currently reserves the invoice."""


class InvoiceBusy(BillingError):
    """The invoice cannot be cancelled: it is paid, partly paid or has a payment in progress."""


class PostingNotFound(BillingError):
    pass


class CallerConditionFailed(BillingError):
    """A condition the caller added to the ledger's transaction failed (for example a provider state)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"caller operation {index} failed its condition")
        self.index = index


class LedgerContention(BillingError):
    """The ledger changed under us more times than we retry; the caller may answer 'try again'."""
