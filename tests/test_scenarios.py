"""The scenarios of the sources pgbilling grew from, end to end through the SQL API."""

from __future__ import annotations

from helpers import D, doc_no, row


def lines_of(db, invoice_id: int) -> list[tuple]:
    return db.execute("SELECT line_type, order_line_no, quantity, amount FROM billing.invoice_line_summary"
                      " WHERE invoice_id = %s ORDER BY line_no", [invoice_id]).fetchall()


def test_order_of_two_items_one_out_of_stock_bills_the_shipped_one(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 20}, {"sku": "B-2", "quantity": 1, "unit_price": 30}])
    inv = api.bill_order(c, order, {"1": 1})
    assert lines_of(db, inv) == [("product", 1, 1, 20)]
    assert row(db, "SELECT invoiced, unbilled FROM billing.order_summary WHERE order_id = %s", [order]) == {
        "invoiced": 20, "unbilled": 30}


def test_ten_ordered_eight_shipped_and_billed_then_the_other_two(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": "2.50"}])
    first, second = api.bill_order(c, order, {"1": 8}), api.bill_order(c, order)
    assert (lines_of(db, first), lines_of(db, second)) == ([("product", 1, 8, 20)], [("product", 1, 2, 5)])
    numbers = db.execute("SELECT invoice_no FROM billing.invoice WHERE invoice_id IN (%s, %s) ORDER BY 1", [first, second]).fetchall()
    assert numbers == [(doc_no("INV", 1, c),), (doc_no("INV", 2, c),)]


def test_fee_added_after_billing_goes_on_a_supplementary_invoice(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 50}])
    first = api.bill_order(c, order)
    api.add_order_charge(c, order, "SHIPPING", D("7.50"), "courier, known after packing")
    supplementary = api.bill_order(c, order)
    assert lines_of(db, supplementary) == [("fee", None, 1, D("7.50"))]
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [first])["total"] == 100
    assert row(db, "SELECT order_total, invoiced, unbilled FROM billing.order_summary WHERE order_id = %s", [order]) == {
        "order_total": D("107.50"), "invoiced": D("107.50"), "unbilled": 0}


def test_ad_hoc_licence_fee_is_invoiced_with_no_order(db, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "USD", "2026-12-31")
    api.add_fee_line(c, inv, "LICENCE", 250, "Annual software licence")
    assert api.issue_invoice(c, inv) == doc_no("INV", 1, c)
    assert row(db, "SELECT order_id, fee_code, amount FROM billing.invoice_line_summary WHERE invoice_id = %s", [inv]) == {
        "order_id": None, "fee_code": "LICENCE", "amount": 250}


def test_issued_invoice_is_corrected_by_a_credit_note_and_a_new_invoice(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 3, "unit_price": 10}])
    wrong = api.bill_order(c, order)
    api.issue_credit_note(c, wrong, None, "billed 3, shipped 2")
    corrected = api.bill_order(c, order, {"1": 2})
    docs = db.execute("SELECT invoice_no, kind, total, credited FROM billing.invoice_summary ORDER BY issued_at").fetchall()
    assert docs == [(doc_no("INV", 1, c), "invoice", 30, 30), (doc_no("CN", 1, c), "credit_note", 30, 0),
                    (doc_no("INV", 2, c), "invoice", 20, 0)]
    assert lines_of(db, corrected) == [("product", 1, 2, 20)]


def test_order_canceled_after_invoicing_reads_canceled_everywhere(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 10}, {"sku": "B-2", "quantity": 1, "unit_price": 5}])
    invoices = [api.bill_order(c, order, {"1": 1}), api.bill_order(c, order)]
    api.cancel_order(c, order, "customer withdrew")
    canceled = db.execute(
        "SELECT o.canceled_time, o.cancel_reason FROM billing.sales_order AS o WHERE o.order_id = %(o)s"
        " UNION SELECT canceled_time, cancel_reason FROM billing.invoice_summary WHERE invoice_id = ANY(%(i)s)"
        " UNION SELECT canceled_time, cancel_reason FROM billing.invoice_line_summary WHERE invoice_id = ANY(%(i)s)",
        {"o": order, "i": invoices}).fetchall()
    assert len(canceled) == 1 and canceled[0][0] is not None and canceled[0][1] == "customer withdrew"
    flags = db.execute("SELECT bool_and(is_canceled) FROM billing.invoice_line_summary WHERE invoice_id = ANY(%s)", [invoices]).fetchone()
    assert flags == (True,)
