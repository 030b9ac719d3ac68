"""The bill page, GET /pay/{invoice_id}: what the invoice holds (period, apartment label, items, total,
paid, due, status), the Payme and Click buttons of the billing API's payment links, and a QR code of the
page's own URL. Amounts only, no personal data: the id is guessable unless links are signed."""

from typing import Any, NamedTuple

from tolov.billing_api.resident_schemas import PaymentLinks
from tolov.pages.html import Page, e, language_switch, layout, qr_svg
from tolov.pages.i18n import money, period, text


class BillLine(NamedTuple):
    title: str
    count: int  # type: ignore[assignment]  # shadows tuple.count: the invoice item's field is "count"
    amount: int  # the line's tiyin: unit price times count


class Bill(NamedTuple):
    invoice_id: str
    period: str
    apartment_label: str
    lines: tuple[BillLine, ...]
    total: int
    paid: int
    status: str  # open | paid | cancelled
    due_date: str | None

    @property
    def due(self) -> int:
        return 0 if self.status != "open" else max(0, self.total - self.paid)

    @property
    def shown_status(self) -> str:
        if self.status == "open" and self.paid > 0:
            return "partly"
        return self.status if self.status in ("open", "paid", "cancelled") else "open"


def bill_of(invoice: Any, apartment_label: str) -> Bill:
    """From the store's Invoice (integers from DynamoDB's numbers, exactly)."""
    return Bill(
        invoice_id=invoice.invoice_id,
        period=invoice.period,
        apartment_label=apartment_label,
        lines=tuple(
            BillLine(item.title, int(item.count), int(item.amount) * int(item.count))
            for item in invoice.items
        ),
        total=int(invoice.amount),
        paid=int(invoice.paid_amount),
        status=invoice.status,
        due_date=invoice.due_date,
    )


def render_bill(
    bill: Bill, lang: str, links: PaymentLinks | None, self_url: str, query: dict[str, str]
) -> Page:
    title = text("bill_title", lang, period=period(bill.period, lang))
    status = bill.shown_status
    rows = "".join(
        f'<tr><td>{e(line.title)}</td><td class="num">{line.count}</td>'
        f'<td class="num">{e(money(line.amount, lang))}</td></tr>'
        for line in bill.lines
    )
    due_date = (
        f'<dt>{e(text("due_date", lang))}</dt><dd id="due-date">{e(bill.due_date)}</dd>'
        if bill.due_date
        else ""
    )
    if bill.due > 0 and links is not None:
        pay = (
            '<section class="card buttons" id="pay">'
            f'<a class="btn btn-payme" id="pay-payme" href="{e(links["payme"])}" rel="noreferrer">'
            f"{e(text('pay_with', lang, provider='Payme'))}</a>"
            f'<a class="btn btn-click" id="pay-click" href="{e(links["click"])}" rel="noreferrer">'
            f"{e(text('pay_with', lang, provider='Click'))}</a></section>"
        )
    elif bill.status == "cancelled":
        pay = f'<section class="card"><p id="settled">{e(text("cancelled_note", lang))}</p></section>'
    else:
        pay = f'<section class="card"><p id="settled">{e(text("paid_note", lang))}</p></section>'
    content = (
        '<section class="card">'
        f"<h1>{e(title)}</h1>"
        f'<p class="muted">{e(text("apartment", lang))}: '
        f'<strong id="apartment">{e(bill.apartment_label)}</strong>'
        f'<br>{e(text("invoice_no", lang))}: <span id="invoice-id">{e(bill.invoice_id)}</span></p>'
        f'<p>{e(text("status", lang))}: <span class="status status-{status}" id="status">'
        f"{e(text('status_' + status, lang))}</span></p>"
        f'<table id="items"><thead><tr><th>{e(text("service", lang))}</th>'
        f'<th class="num">{e(text("count", lang))}</th>'
        f'<th class="num">{e(text("amount", lang))}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        '<dl class="totals">'
        f'<dt>{e(text("total", lang))}</dt><dd id="total">{e(money(bill.total, lang))}</dd>'
        f'<dt>{e(text("paid", lang))}</dt><dd id="paid">{e(money(bill.paid, lang))}</dd>'
        f'<dt class="due">{e(text("due", lang))}</dt><dd class="due" id="due">{e(money(bill.due, lang))}</dd>'
        f"{due_date}</dl></section>"
        f"{pay}"
        f'<section class="card"><figure class="qr" id="qr" data-url="{e(self_url)}">{qr_svg(self_url)}'
        f'<figcaption class="note">{e(text("qr_caption", lang))}</figcaption></figure></section>'
    )
    document, headers = layout(lang, title, content, switch=language_switch(lang, query))
    return Page(200, document, lang, headers)
