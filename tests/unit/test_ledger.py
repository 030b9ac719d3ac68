from tolov.billing.invoices import Billing, NewItem
from tolov.billing.ledger import PaymentKey


def item(service, amount, count=1):
    return NewItem(service=service, title=service.title(), amount=amount, count=count, ikpu="10101001001000000", package_code="123456", vat_percent=0)

def test_smoke(aws):
    b = Billing()
    b.put_apartment("a1", "Flat 1", "r1")
    inv = b.create_invoice("a1", "2026-10", [item("water", 1000, 2), item("gas", 500)])
    assert inv.amount == 2500
    r = b.ledger.post_to_invoice(PaymentKey("payme", "t1"), inv.invoice_id, 2500)
    assert r.created
    inv2, postings = b.get_invoice(inv.invoice_id)
    assert inv2.status == "paid" and [p.payment_key for p in postings] == ["payme#t1"]
    assert b.balance("a1").debt == 0
    b.ledger.reverse(PaymentKey("payme","t1"), reason="refund")
    assert b.balance("a1").debt == 2500
    r = b.ledger.post_to_apartment(PaymentKey("click","c1"), "a1", 3000)
    bal = b.balance("a1")
    assert bal.debt == 0 and bal.credit == 500
