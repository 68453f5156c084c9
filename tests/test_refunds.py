"""Refunds, write-offs, voiding paid invoices, and the payment side of canceling an order."""

from __future__ import annotations

from helpers import D, refused, row


def issued(api, c: int, amount, currency: str = "EUR") -> int:  # noqa: ANN001
    inv = api.create_invoice(c, currency)
    api.add_fee_line(c, inv, "ADMIN", amount)
    api.issue_invoice(c, inv)
    return inv


def balance(db, c: int) -> dict | None:
    found = db.execute("SELECT receivable, open_credit FROM billing.customer_balance WHERE customer_id = %s", [c]).fetchone()
    return None if found is None else {"receivable": found[0], "open_credit": found[1]}


def test_overpayment_becomes_credit_applied_later_and_the_rest_refunded(db, api, shop) -> None:
    c = shop["customer"]
    first = issued(api, c, 100)
    p = api.record_payment(c, "EUR", 150, "BANK_TRANSFER")
    api.allocate_payment(c, p, first)
    assert balance(db, c) == {"receivable": 0, "open_credit": 50}
    later = issued(api, c, 30)
    assert db.execute("SELECT invoice_id, amount FROM billing.auto_allocate(%s, %s)", [c, p]).fetchall() == [(later, 30)]
    refund = api.refund(c, "EUR", 20, "BANK_TRANSFER", "overpayment returned")
    assert balance(db, c) is None
    assert row(db, "SELECT refunded, unallocated FROM billing.payment_summary WHERE payment_id = %s", [p]) == {
        "refunded": 20, "unallocated": 0}
    assert db.execute("SELECT payment_id, amount FROM billing.refund_part WHERE refund_id = %s", [refund]).fetchall() == [(p, 20)]


def test_refund_uses_payments_oldest_first_and_never_more(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    first = api.record_payment(c, "EUR", 100, "CARD")
    api.allocate_payment(c, first, inv)
    api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 40}])  # the invoice is paid: 40 back to the payment
    p = api.record_payment(c, "EUR", 25, "CASH")
    refused(db, "23514", "SELECT billing.refund(%s, 'EUR', 65.01, 'CASH')", [c])
    refused(db, "23514", "SELECT billing.refund(%s, 'EUR', 30, 'CASH', NULL, %s)", [c, p])
    refused(db, "23514", "SELECT billing.refund(%s, 'USD', 1, 'CASH')", [c])
    refused(db, "23503", "SELECT billing.refund(%s, 'EUR', 1, 'GOLD')", [c])
    refused(db, "23514", "SELECT billing.refund(%s, 'EUR', 0, 'CASH')", [c])
    refund = api.refund(c, "EUR", 50, "BANK_TRANSFER")
    parts = db.execute("SELECT credit_note_id, payment_id, amount FROM billing.refund_part WHERE refund_id = %s ORDER BY part_no",
                       [refund]).fetchall()
    assert parts == [(None, first, 40), (None, p, 10)]
    assert balance(db, c) == {"receivable": 0, "open_credit": 15}


def test_refunds_and_write_offs_are_history_and_complete(db, api, shop) -> None:
    c = shop["customer"]
    p = api.record_payment(c, "EUR", 10, "CASH")
    refund = api.refund(c, "EUR", 10, "CASH")
    wo = api.write_off(c, issued(api, c, 5))
    refused(db, "PB001", "UPDATE billing.refund SET reason = 'x' WHERE refund_id = %s", [refund])
    refused(db, "PB001", "DELETE FROM billing.refund_part WHERE refund_id = %s", [refund])
    refused(db, "PB001", "UPDATE billing.write_off SET reason = 'x' WHERE write_off_id = %s", [wo])
    refused(db, "PB001", "TRUNCATE billing.write_off")
    # a refund whose parts do not add up is refused when the transaction commits
    refused(db, "23514", "INSERT INTO billing.refund (customer_id, currency, amount, method_id) VALUES (%s, 'EUR', 5, 1)", [c])
    assert row(db, "SELECT unallocated FROM billing.payment_summary WHERE payment_id = %s", [p])["unallocated"] == 0


def test_write_off_settles_what_will_never_be_collected(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, D("100.00"))
    api.allocate_payment(c, api.record_payment(c, "EUR", D("99.97"), "CARD"), inv)
    refused(db, "23514", "SELECT billing.write_off(%s, %s, 0.04)", [c, inv])
    api.write_off(c, inv, None, "rounding residue")
    summary = row(db, "SELECT paid, open_amount, written_off, payment_status FROM billing.invoice_summary WHERE invoice_id = %s", [inv])
    assert summary == {"paid": D("99.97"), "open_amount": 0, "written_off": D("0.03"), "payment_status": "written_off"}
    refused(db, "55000", "SELECT billing.write_off(%s, %s)", [c, inv])
    draft = api.create_invoice(c, "EUR")
    api.add_fee_line(c, draft, "ADMIN", 5)
    refused(db, "55000", "SELECT billing.write_off(%s, %s, 1)", [c, draft])


def test_voiding_a_paid_invoice_frees_the_payment_as_open_credit(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 80)
    p = api.record_payment(c, "EUR", 80, "CARD")
    api.allocate_payment(c, p, inv)
    api.void_invoice(c, inv, "billed by mistake")
    assert row(db, "SELECT open_amount, payment_status FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "open_amount": 0, "payment_status": "canceled"}
    assert row(db, "SELECT unallocated, is_canceled FROM billing.payment_summary WHERE payment_id = %s", [p]) == {
        "unallocated": 80, "is_canceled": False}


def test_fee_added_after_payment_is_billed_and_paid_separately(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 40}])
    first = api.bill_order(c, order)
    api.allocate_payment(c, api.record_payment(c, "EUR", 80, "CARD"), first)
    api.add_order_charge(c, order, "LATE", D("12.50"))
    supplementary = api.bill_order(c, order)
    assert row(db, "SELECT paid, open_amount, payment_status FROM billing.order_summary WHERE order_id = %s", [order]) == {
        "paid": 80, "open_amount": D("12.50"), "payment_status": "partially_paid"}
    api.allocate_payment(c, api.record_payment(c, "EUR", D("12.50"), "PAYPAL"), supplementary)
    assert row(db, "SELECT order_total, paid, open_amount, payment_status FROM billing.order_summary WHERE order_id = %s",
               [order]) == {"order_total": D("92.50"), "paid": D("92.50"), "open_amount": 0, "payment_status": "paid"}


def test_order_canceled_after_payment_refunds_and_cancels_its_own_payments(db, api, shop) -> None:
    c = shop["customer"]
    canceled = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 50}])
    kept = api.place_order(c, "EUR", [{"sku": "B-2", "quantity": 1, "unit_price": 30}])
    inv, other = api.bill_order(c, canceled), api.bill_order(c, kept)
    own = api.record_payment(c, "EUR", 60, "CARD")
    shared = api.record_payment(c, "EUR", 70, "BANK_TRANSFER")
    api.allocate_payment(c, own, inv, 60)
    api.allocate_payment(c, shared, inv, 40)
    api.allocate_payment(c, shared, other, 30)
    api.cancel_order(c, canceled, "out of stock")
    when = row(db, "SELECT canceled_time FROM billing.sales_order WHERE order_id = %s", [canceled])["canceled_time"]
    assert row(db, "SELECT refunded, unallocated, is_canceled, canceled_time, cancel_reason FROM billing.payment_summary"
               " WHERE payment_id = %s", [own]) == {"refunded": 60, "unallocated": 0, "is_canceled": True,
                                                    "canceled_time": when, "cancel_reason": "out of stock"}
    assert row(db, "SELECT allocated, unallocated, is_canceled FROM billing.payment_summary WHERE payment_id = %s", [shared]) == {
        "allocated": 30, "unallocated": 40, "is_canceled": False}
    assert row(db, "SELECT payment_status, canceled_time FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "payment_status": "canceled", "canceled_time": when}
    assert row(db, "SELECT payment_status FROM billing.invoice_summary WHERE invoice_id = %s", [other])["payment_status"] == "paid"
    assert row(db, "SELECT paid, open_amount, is_canceled FROM billing.order_summary WHERE order_id = %s", [canceled]) == {
        "paid": 0, "open_amount": 0, "is_canceled": True}
