"""The fiscal `detail` of an autopay receipt: one item per open charge it pays, oldest first, as the
posting will allocate it; any rest (debt not tied to a charge) as the apartment top-up item. Built with
the Payme Merchant API's own item builders, so both paths describe a payment alike."""

from typing import Any

from tolov.billing.ledger import Payable, allocate
from tolov.payme.accounts import detail, line_item, topup_item
from tolov.payme.repository import InvoiceLine
from tolov.settings import PaymeSettings


def receipt_detail(payable: Payable, amount: int, config: PaymeSettings) -> dict[str, Any] | None:
    """None when an item cannot be described (a rest without a configured top-up IKPU): a receipt
    without `detail` is better than one whose items do not add up to its amount."""
    allocations, rest = allocate([(c.charge_key, int(c.unpaid)) for c in payable.charges], amount)
    by_key = {c.charge_key: c for c in payable.charges}
    items: list[dict[str, Any]] = []
    for charge_key, part in allocations:
        charge = by_key[charge_key]
        invoice = payable.invoices.get(charge.invoice_id)
        line = next((i for i in invoice.items if i.charge_key == charge_key), None) if invoice else None
        if line is None:
            return None
        total = int(line.amount) * int(line.count)
        items.append(
            line_item(
                InvoiceLine(
                    title=line.title,
                    unit_price=int(line.amount),
                    count=int(line.count),
                    ikpu=line.ikpu,
                    package_code=line.package_code,
                    vat_percent=int(line.vat_percent),
                    prepaid=total - part,  # paid before, or left for a later payment: not this receipt's
                )
            )
        )
    if rest:
        top_up = topup_item(config, rest)
        if top_up is None:
            return None
        items.append(top_up)
    return detail(items)
