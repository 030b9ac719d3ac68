"""Payment links for an invoice's unpaid amount, one per provider."""

from tolov.billing.schemas import PaymentLinks
from tolov.click.links import pay_link
from tolov.payme.links import checkout_link
from tolov.settings import Settings
from tolov.store.models import Invoice


def invoice_links(invoice: Invoice, settings: Settings) -> PaymentLinks | None:
    unpaid = int(invoice.amount) - int(invoice.paid_amount)
    if invoice.status != "open" or unpaid <= 0:
        return None
    return PaymentLinks(
        payme=checkout_link(
            settings.payme_checkout_url,
            settings.payme_merchant_id,
            {settings.payme_invoice_field: invoice.invoice_id},
            unpaid,
        ),
        click=pay_link(
            settings.click_service_id,
            settings.click_merchant_id,
            invoice.invoice_id,
            unpaid,
            pay_url=settings.click_pay_url,
        ),
    )
