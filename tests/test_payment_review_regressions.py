"""Payment rules that an independent review found broken, each reproduced here and then fixed."""

from __future__ import annotations

import threading

import psycopg
from helpers import refused, row, run_together, wait_until_blocked


def issued(api, c: int, amount) -> int:  # noqa: ANN001
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "ADMIN", amount)
    api.issue_invoice(c, inv)
    return inv


def test_voiding_a_written_off_invoice_gives_back_only_what_was_paid(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    api.allocate_payment(c, api.record_payment(c, "EUR", 60, "CARD"), inv)
    api.write_off(c, inv, None, "bad debt")
    api.void_invoice(c, inv, "void")
    assert row(db, "SELECT receivable, open_credit FROM billing.customer_balance WHERE customer_id = %s", [c]) == {
        "receivable": 0, "open_credit": 60}
    refused(db, "23514", "SELECT billing.refund(%s, 'EUR', 100, 'CASH')", [c])
    assert row(db, "SELECT written_off FROM billing.invoice_summary WHERE invoice_id = %s", [inv])["written_off"] == 0


def test_voided_invoice_stays_settled_by_its_credit_note(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    api.void_invoice(c, inv, "void")
    settled = db.execute("SELECT allocation_id FROM billing.allocation WHERE invoice_id = %s", [inv]).fetchone()[0]
    refused(db, "55000", "SELECT billing.unallocate(%s, %s)", [c, settled])
    refused(db, "55000", "SELECT billing.allocate_payment(%s, %s, %s, 1)", [c, api.record_payment(c, "EUR", 100, "CARD"), inv])
    refused(db, "55000", "SELECT billing.write_off(%s, %s, 1)", [c, inv])


def test_refund_cannot_come_out_of_a_draft_credit_note(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    draft = db.execute("INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id)"
                       " VALUES (%s, 'credit_note', 'EUR', %s) RETURNING invoice_id", [c, inv]).fetchone()[0]
    refused(db, "55000", f"""
        DO $$
        DECLARE v_refund bigint;
        BEGIN
            INSERT INTO billing.refund (customer_id, currency, amount, method_id) VALUES ({c}, 'EUR', 500, 1)
            RETURNING refund_id INTO v_refund;
            INSERT INTO billing.refund_part (customer_id, refund_id, part_no, currency, credit_note_id, amount)
            VALUES ({c}, v_refund, 1, 'EUR', {draft}, 500);
        END
        $$""")


def test_order_cancellation_leaves_alone_a_payment_unallocated_from_it_earlier(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 40}])
    inv = api.bill_order(c, order)
    p = api.record_payment(c, "EUR", 40, "CARD")
    api.unallocate(c, api.allocate_payment(c, p, inv), "meant for another invoice")
    api.cancel_order(c, order, "withdrawn")
    assert row(db, "SELECT unallocated, refunded, is_canceled FROM billing.payment_summary WHERE payment_id = %s", [p]) == {
        "unallocated": 40, "refunded": 0, "is_canceled": False}


def test_cancel_payment_racing_an_allocation_reverses_it(db, db_url, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    p = api.record_payment(c, "EUR", 100, "CARD")
    allocated = threading.Event()

    def allocate_and_hold(conn: psycopg.Connection) -> object:
        with conn.transaction():
            conn.execute("SELECT billing.allocate_payment(%s, %s, %s)", [c, p, inv])
            allocated.set()
            wait_until_blocked(conn)
        return "allocated"

    def cancel(conn: psycopg.Connection) -> object:
        allocated.wait()
        conn.execute("SELECT billing.cancel_payment(%s, %s, 'chargeback')", [c, p])
        return "canceled"

    assert run_together(db_url, [allocate_and_hold, cancel]) == ["allocated", "canceled"]
    assert row(db, "SELECT paid, open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {"paid": 0, "open_amount": 100}
    assert row(db, "SELECT allocated, voided FROM billing.payment_balance WHERE payment_id = %s", [p]) == {"allocated": 0, "voided": 100}


def test_void_racing_a_payment_cancellation_does_not_deadlock(db, db_url, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    p1, p2 = api.record_payment(c, "EUR", 50, "CARD"), api.record_payment(c, "EUR", 50, "CASH")
    api.allocate_payment(c, p1, inv)
    api.allocate_payment(c, p2, inv)
    holding = threading.Event()

    def hold_p2_then_cancel(conn: psycopg.Connection) -> object:
        with conn.transaction():
            conn.execute("SELECT FROM billing.payment_balance WHERE payment_id = %s FOR UPDATE", [p2])
            holding.set()
            wait_until_blocked(conn)
            conn.execute("SELECT billing.cancel_payment(%s, %s, 'chargeback')", [c, p2])
        return "canceled"

    def void(conn: psycopg.Connection) -> object:
        holding.wait()
        conn.execute("SELECT billing.void_invoice(%s, %s, 'void')", [c, inv])
        return "voided"

    assert run_together(db_url, [hold_p2_then_cancel, void]) == ["canceled", "voided"]
    assert row(db, "SELECT unallocated, is_canceled FROM billing.payment_summary WHERE payment_id = %s", [p1]) == {
        "unallocated": 50, "is_canceled": False}
