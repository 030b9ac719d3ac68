"""Payment links for an invoice's unpaid amount, one per provider: composed here, above the billing core
(which knows no provider) and above both providers' link formats."""

from tolov.billing_api.resident_schemas import PaymentLinks
from tolov.click.links import pay_link
from tolov.payme.links import checkout_link
from tolov.settings import Settings
from tolov.store.models import Invoice


def invoice_links(invoice: Invoice, settings: Settings, *, lang: str | None = None) -> PaymentLinks | None:
    """lang (ru, uz, en): the language Payme's checkout opens in (the pay page passes its own)."""
    unpaid = int(invoice.amount) - int(invoice.paid_amount)
    if invoice.status != "open" or unpaid <= 0:
        return None
    payme, click = settings.payme, settings.click
    return PaymentLinks(
        payme=checkout_link(
            payme.checkout_url,
            payme.merchant_id,
            {payme.invoice_field: invoice.invoice_id},
            unpaid,
            lang=lang,
        ),
        click=pay_link(
            click.service_id, click.merchant_id, invoice.invoice_id, unpaid, pay_url=click.pay_url
        ),
    )
