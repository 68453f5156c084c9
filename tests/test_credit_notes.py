"""Partial billing, credit notes, voiding and order cancellation."""

from __future__ import annotations

import pytest
from helpers import D, doc_no, refused, row


@pytest.fixture
def order(api, shop) -> int:
    return api.place_order(shop["customer"], "EUR", [
        {"sku": "A-1", "quantity": 10, "unit_price": "9.99"}, {"sku": "B-2", "quantity": 1, "unit_price": 100}])


def billed(db, order: int, line_no: int) -> D:
    return db.execute("SELECT billed_quantity FROM billing.order_line WHERE order_id = %s AND line_no = %s",
                      [order, line_no]).fetchone()[0]


def test_order_line_is_billed_in_parts_never_beyond_what_was_ordered(db, api, shop, order) -> None:
    c = shop["customer"]
    api.bill_order(c, order, {"1": 8})
    assert billed(db, order, 1) == 8
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 3)
    refused(db, "23514", "SELECT billing.issue_invoice(%s, %s)", [c, inv])
    refused(db, "23514", "SELECT billing.bill_order(%s, %s, '{\"1\": 3}')", [c, order])
    api.bill_order(c, order, {"1": 2})
    assert billed(db, order, 1) == 10


def test_bill_order_bills_everything_left_then_refuses(db, api, shop, order) -> None:
    c = shop["customer"]
    api.bill_order(c, order, {"1": 4})
    api.add_order_charge(c, order, "SHIPPING", D("4.95"))
    second = api.bill_order(c, order)
    lines = db.execute("SELECT line_type, quantity, amount FROM billing.invoice_line WHERE invoice_id = %s ORDER BY line_no",
                       [second]).fetchall()
    assert lines == [("product", 6, D("59.94")), ("product", 1, D("100")), ("fee", 1, D("4.95"))]
    assert row(db, "SELECT unbilled, invoiced FROM billing.order_summary WHERE order_id = %s", [order]) == {
        "unbilled": 0, "invoiced": D("204.85")}
    refused(db, "55000", "SELECT billing.bill_order(%s, %s)", [c, order])


def test_bill_order_rejects_malformed_or_unknown_quantities(db, api, shop, order) -> None:
    c = shop["customer"]
    refused(db, "22023", "SELECT billing.bill_order(%s, %s, '[1, 2]')", [c, order])
    refused(db, "22023", "SELECT billing.bill_order(%s, %s, '{\"one\": 2}')", [c, order])
    refused(db, "23503", "SELECT billing.bill_order(%s, %s, '{\"7\": 1}')", [c, order])
    refused(db, "23514", "SELECT billing.bill_order(%s, %s, '{\"1\": 0}')", [c, order])
    refused(db, "23503", "SELECT billing.bill_order(%s, %s)", [shop["other"], order])


def test_credit_by_quantity_makes_it_billable_again(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order, {"1": 10})
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 3}], "3 returned")
    note = row(db, "SELECT * FROM billing.invoice_summary WHERE invoice_id = %s", [cn])
    assert (note["invoice_no"], note["kind"], note["total"], note["credited_invoice_id"]) == (doc_no("CN", 1, c), "credit_note", D("29.97"), inv)
    assert billed(db, order, 1) == 7
    assert row(db, "SELECT credited FROM billing.invoice_summary WHERE invoice_id = %s", [inv])["credited"] == D("29.97")
    again = api.bill_order(c, order, {"1": 3})
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [again])["total"] == D("29.97")


def test_credit_by_amount_corrects_a_price_without_giving_back_quantity(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order)
    api.issue_credit_note(c, inv, [{"line_no": 2, "amount": 15}], "price match")
    assert billed(db, order, 2) == 1
    line = row(db, "SELECT credited_quantity, credited_amount FROM billing.invoice_line_summary WHERE invoice_id = %s AND line_no = 2", [inv])
    assert line == {"credited_quantity": 0, "credited_amount": 15}
    # crediting all that is left of the line gives back the quantity and exactly the rest of the amount
    cn = api.issue_credit_note(c, inv, [{"line_no": 2, "quantity": 1}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn])["total"] == 85
    assert billed(db, order, 2) == 0


def test_credit_notes_never_credit_more_than_was_invoiced(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order, {"1": 2})
    refused(db, "23514", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1, \"quantity\": 3}]')", [c, inv])
    refused(db, "23514", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1, \"amount\": 20}]')", [c, inv])
    api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 15}])
    refused(db, "23514", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1, \"amount\": 5}]')", [c, inv])
    api.issue_credit_note(c, inv)  # everything left: 4.98
    refused(db, "55000", "SELECT billing.issue_credit_note(%s, %s)", [c, inv])
    assert row(db, "SELECT credited, total FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "credited": D("19.98"), "total": D("19.98")}


def test_credit_notes_refuse_bad_targets_and_shapes(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order, {"1": 2})
    draft = api.create_invoice(c, "EUR")
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 1}])
    refused(db, "55000", "SELECT billing.issue_credit_note(%s, %s)", [c, draft])
    refused(db, "55000", "SELECT billing.issue_credit_note(%s, %s)", [c, cn])
    refused(db, "23503", "SELECT billing.issue_credit_note(%s, %s)", [shop["other"], inv])
    refused(db, "23503", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 9, \"amount\": 1}]')", [c, inv])
    refused(db, "22023", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1}]')", [c, inv])
    refused(db, "22023", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1, \"quantity\": 1, \"amount\": 1}]')", [c, inv])
    refused(db, "22023", "SELECT billing.issue_credit_note(%s, %s, '{\"line_no\": 1}')", [c, inv])
    refused(db, "PB001", "UPDATE billing.credit_note_line SET amount = 1 WHERE credit_note_id = %s", [cn])


def test_direct_credit_note_insert_is_held_to_the_same_rules(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order, {"1": 2})
    cn = db.execute("INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id) VALUES (%s, 'credit_note', 'EUR', %s)"
                    " RETURNING invoice_id", [c, inv]).fetchone()[0]
    refused(db, "23514", "INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no, credited_invoice_id,"
            " credited_line_no, amount) VALUES (%s, %s, 1, %s, 1, -1)", [c, cn, inv])
    refused(db, "23514", "INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no, credited_invoice_id,"
            " credited_line_no, amount) VALUES (%s, %s, 1, %s, 1, 1.001)", [c, cn, inv])
    other = api.bill_order(c, order, {"2": 1})
    refused(db, "23503", "INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no, credited_invoice_id,"
            " credited_line_no, amount) VALUES (%s, %s, 1, %s, 1, 1)", [c, cn, other])
    refused(db, "23514", "INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id) VALUES (%s, 'credit_note', 'USD', %s)",
            [c, inv])
    db.execute("INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no, credited_invoice_id,"
               " credited_line_no, quantity, amount) VALUES (%s, %s, 1, %s, 1, 1, 9.99)", [c, cn, inv])
    db.execute("UPDATE billing.invoice SET status = 'issued' WHERE invoice_id = %s", [cn])
    assert billed(db, order, 1) == 1


def test_void_invoice_credits_everything_left_and_reads_canceled(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order)
    api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 2}])
    cn = api.void_invoice(c, inv, "wrong address")
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn])["total"] == D("179.92")
    summary = row(db, "SELECT * FROM billing.invoice_summary WHERE invoice_id = %s", [inv])
    assert (summary["credited"], summary["is_canceled"], summary["cancel_reason"]) == (summary["total"], True, "wrong address")
    refused(db, "55000", "SELECT billing.void_invoice(%s, %s, 'again')", [c, inv])
    refused(db, "22004", "SELECT billing.void_invoice(%s, %s, NULL)", [c, api.bill_order(c, order)])


def test_cancellation_rows_are_checked_and_final(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order, {"1": 1})
    partial = api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 1}])
    refused(db, "55000", "INSERT INTO billing.invoice_cancellation VALUES (%s, %s, now(), 'x', %s)", [c, inv, partial])
    cn = api.void_invoice(c, inv, "duplicate")
    refused(db, "PB001", "UPDATE billing.invoice_cancellation SET cancel_reason = 'y' WHERE credit_note_id = %s", [cn])
    refused(db, "PB001", "DELETE FROM billing.invoice_cancellation WHERE credit_note_id = %s", [cn])


def test_cancel_order_cancels_order_invoices_and_lines_with_one_time_and_reason(db, api, shop, order) -> None:
    c = shop["customer"]
    first = api.bill_order(c, order, {"1": 4})
    api.add_order_charge(c, order, "SHIPPING", D("4.95"))
    second = api.bill_order(c, order)
    api.cancel_order(c, order, "out of stock")
    o = row(db, "SELECT * FROM billing.order_summary WHERE order_id = %s", [order])
    assert (o["is_canceled"], o["cancel_reason"], o["unbilled"], o["credited"]) == (True, "out of stock", 0, o["invoiced"])
    times = db.execute(
        "SELECT DISTINCT canceled_time, cancel_reason FROM billing.invoice_summary WHERE invoice_id IN (%s, %s)"
        " UNION SELECT DISTINCT canceled_time, cancel_reason FROM billing.invoice_line_summary WHERE invoice_id IN (%s, %s)",
        [first, second, first, second]).fetchall()
    assert times == [(o["canceled_time"], "out of stock")]
    assert db.execute("SELECT sum(billed_quantity) FROM billing.order_line WHERE order_id = %s", [order]).fetchone()[0] == 0
    assert db.execute("SELECT billed_amount FROM billing.order_charge WHERE order_id = %s", [order]).fetchone()[0] == 0


def test_draft_of_a_canceled_order_cannot_be_issued(db, api, shop, order) -> None:
    c = shop["customer"]
    draft = api.create_invoice(c, "EUR")
    api.add_product_line(c, draft, order, 1, 1)
    api.cancel_order(c, order, "fraud")
    refused(db, "55000", "SELECT billing.issue_invoice(%s, %s)", [c, draft])
    refused(db, "55000", "SELECT billing.add_product_line(%s, %s, %s, 2, 1)", [c, draft, order])
