"""Rules that an independent review found broken, each reproduced here first and then fixed."""

from __future__ import annotations

import threading

import psycopg
import pytest
from helpers import D, refused, row, run_together, wait_until_blocked


def order_of(api, c: int, quantity: int = 10, price: str = "10") -> int:  # noqa: ANN001
    return api.place_order(c, "EUR", [{"sku": "A-1", "quantity": quantity, "unit_price": price}])


def billed(db, order: int) -> D:
    return db.execute("SELECT billed_quantity FROM billing.order_line WHERE order_id = %s", [order]).fetchone()[0]


def test_quantity_credit_must_be_worth_its_share_of_the_line(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    inv = api.bill_order(c, order)
    cn = db.execute("INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id)"
                    " VALUES (%s, 'credit_note', 'EUR', %s) RETURNING invoice_id", [c, inv]).fetchone()[0]
    db.execute("INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no, credited_invoice_id,"
               " credited_line_no, quantity, amount) VALUES (%s, %s, 1, %s, 1, 10, 0.01)", [c, cn, inv])
    refused(db, "23514", "UPDATE billing.invoice SET status = 'issued' WHERE invoice_id = %s", [cn])
    assert billed(db, order) == 10


def test_linked_discount_goes_back_with_the_units(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 10)
    api.add_discount_line(c, inv, 10, "10 off the widgets", 1)
    api.issue_invoice(c, inv)
    first = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 9}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [first])["total"] == 81
    last = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 1}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [last])["total"] == 9
    assert billed(db, order) == 0


def test_invoice_with_a_general_discount_can_still_be_voided_after_quantity_credits(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 10)
    api.add_discount_line(c, inv, 10, "loyalty")
    api.issue_invoice(c, inv)
    first = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 9}])  # 90 less the discount's share, 9
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [first])["total"] == 81
    cn = api.void_invoice(c, inv, "returned")
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn])["total"] == 9  # the last unit, net
    assert billed(db, order) == 0
    assert row(db, "SELECT is_canceled FROM billing.invoice_summary WHERE invoice_id = %s", [inv])["is_canceled"] is True


def test_free_line_and_fully_price_corrected_line_give_back_their_units_on_void(db, api, shop) -> None:
    c = shop["customer"]
    free, corrected = order_of(api, c, 10, "0"), order_of(api, c, 10, "10")
    free_inv, corrected_inv = api.bill_order(c, free), api.bill_order(c, corrected)
    api.issue_credit_note(c, corrected_inv, [{"line_no": 1, "amount": 100}])
    api.void_invoice(c, free_inv, "sample")
    api.void_invoice(c, corrected_inv, "returned")
    assert (billed(db, free), billed(db, corrected)) == (0, 0)


def test_unit_credits_never_drift_from_the_line_total_by_rounding(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c, 10, "0.015")
    inv = api.bill_order(c, order)
    for _ in range(10):
        api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 1}])
    assert row(db, "SELECT credited, total FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "credited": D("0.15"), "total": D("0.15")}


def test_direct_cancel_of_an_order_voids_its_invoices(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    inv = api.bill_order(c, order, {"1": 4})
    db.execute("UPDATE billing.sales_order SET is_canceled = TRUE, canceled_time = '2026-01-02 03:04:05+00',"
               " cancel_reason = 'by hand' WHERE order_id = %s", [order])
    summary = row(db, "SELECT is_canceled, canceled_time::text, credited, total FROM billing.invoice_summary WHERE invoice_id = %s", [inv])
    assert summary == {"is_canceled": True, "canceled_time": "2026-01-02 03:04:05+00", "credited": 40, "total": 40}
    assert billed(db, order) == 0


def test_lines_are_checked_again_when_issued(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    repriced = api.create_invoice(c, "EUR")
    api.add_product_line(c, repriced, order, 1, 5)
    db.execute("UPDATE billing.order_line SET unit_price = 20 WHERE order_id = %s", [order])
    refused(db, "23514", "SELECT billing.issue_invoice(%s, %s)", [c, repriced])
    fee_only = api.create_invoice(c, "EUR")
    api.add_fee_line(c, fee_only, "HANDLING", 5, None, order)
    api.cancel_order(c, order, "withdrawn")
    refused(db, "55000", "SELECT billing.issue_invoice(%s, %s)", [c, fee_only])


def test_order_with_a_billed_charge_keeps_its_currency(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    api.add_order_charge(c, order, "SHIPPING", 5)
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "SHIPPING", 5, None, order, 1)
    api.issue_invoice(c, inv)
    refused(db, "55000", "UPDATE billing.sales_order SET currency = 'USD' WHERE order_id = %s", [order])


def test_number_series_cannot_be_rewound_skipped_or_removed(db, api, shop) -> None:
    inv = api.create_invoice(shop["customer"], "EUR")
    api.add_fee_line(shop["customer"], inv, "ADMIN", 1)
    api.issue_invoice(shop["customer"], inv)
    refused(db, "PB002", "UPDATE billing.document_series SET next_no = 1 WHERE series = 'invoice'")
    refused(db, "PB002", "UPDATE billing.document_series SET next_no = next_no + 1 WHERE series = 'invoice'")
    refused(db, "PB002", "UPDATE billing.document_series SET prefix = 'X' WHERE series = 'invoice'")
    refused(db, "PB001", "DELETE FROM billing.document_series WHERE series = 'invoice'")
    refused(db, "PB001", "TRUNCATE billing.document_series CASCADE")


@pytest.mark.parametrize("lines", [
    '[{"line_no": 1, "quantity": 1}, {"line_no": 1, "amount": 1}]', '[{"quantity": 1}]', '[{"line_no": 1.5, "quantity": 1}]',
    '[{"line_no": 99999999999, "quantity": 1}]', '[{"line_no": "1", "quantity": 1}]', '[{"line_no": 1, "amount": -5}]',
])
def test_malformed_credit_lines_are_bad_arguments(db, api, shop, lines: str) -> None:
    c = shop["customer"]
    inv = api.bill_order(c, order_of(api, c))
    refused(db, "22023", "SELECT billing.issue_credit_note(%s, %s, %s)", [c, inv, lines])


@pytest.mark.parametrize("line", [
    '{"sku": "A-1", "quantity": "abc", "unit_price": 1}', '{"sku": "A-1", "quantity": {"n": 1}, "unit_price": 1}',
    '{"product_id": "x", "quantity": 1, "unit_price": 1}', '{"sku": "A-1", "quantity": 1, "unit_price": "1e3"}',
])
def test_malformed_order_lines_are_bad_arguments(db, shop, line: str) -> None:
    refused(db, "22023", "SELECT billing.place_order(%s, 'EUR', %s)", [shop["customer"], f"[{line}]"])


def test_null_invoice_ids_are_null_arguments(db, api, shop) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    refused(db, "22004", "SELECT billing.add_product_line(%s, NULL, %s, 1, 1)", [c, order])
    refused(db, "22004", "SELECT billing.add_product_line(NULL, 1, %s, 1, 1)", [order])
    refused(db, "22004", "SELECT billing.add_tax_line(%s, NULL, 'DE_VAT', 0.1)", [c])


@pytest.mark.parametrize("first", ["issue", "cancel"])
def test_issue_racing_cancel_never_leaves_an_open_invoice_on_a_canceled_order(db, db_url, api, shop, first) -> None:
    c = shop["customer"]
    order = order_of(api, c)
    draft = api.create_invoice(c, "EUR")
    api.add_product_line(c, draft, order, 1, 5)
    started = threading.Event()
    sql = {"issue": ("SELECT billing.issue_invoice(%s, %s)", [c, draft]),
           "cancel": ("SELECT billing.cancel_order(%s, %s, 'race')", [c, order])}
    second = "cancel" if first == "issue" else "issue"

    def holder(conn: psycopg.Connection) -> object:
        with conn.transaction():
            conn.execute(*sql[first])
            started.set()
            wait_until_blocked(conn)
        return "done"

    def waiter(conn: psycopg.Connection) -> object:
        started.wait()
        return conn.execute(*sql[second]).fetchone()

    results = run_together(db_url, [holder, waiter])
    errors = [r for r in results if isinstance(r, psycopg.Error)]
    assert all(e.sqlstate == "55000" for e in errors), results  # never a deadlock, never an over-bill
    assert billed(db, order) == 0
    assert db.execute("SELECT count(*) FROM billing.invoice_summary WHERE kind = 'invoice' AND status = 'issued'"
                      " AND NOT is_canceled").fetchone()[0] == 0


def test_voids_in_one_transaction_racing_a_credit_note_do_not_deadlock(db, db_url, api, shop) -> None:
    c = shop["customer"]
    first, second = (api.bill_order(c, order_of(api, c)) for _ in range(2))
    voided_first = threading.Event()

    def voider(conn: psycopg.Connection) -> object:
        with conn.transaction():
            conn.execute("SELECT billing.void_invoice(%s, %s, 'batch')", [c, first])
            voided_first.set()
            wait_until_blocked(conn)
            conn.execute("SELECT billing.void_invoice(%s, %s, 'batch')", [c, second])
        return "voided"

    def crediter(conn: psycopg.Connection) -> object:
        voided_first.wait()
        return conn.execute("SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1, \"quantity\": 1}]')", [c, second]).fetchone()

    results = run_together(db_url, [voider, crediter])
    assert not any(isinstance(r, psycopg.Error) and r.sqlstate == "40P01" for r in results), results
    assert results[0] == "voided"
    assert row(db, "SELECT credited, total FROM billing.invoice_summary WHERE invoice_id = %s", [second]) == {
        "credited": 100, "total": 100}
