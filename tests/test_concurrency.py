"""Concurrent issuing: gapless numbers, no over-billing. Separate connections in threads, barriers to line
them up, the invariant checked afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from helpers import D, doc_no, run_together, wait_until_blocked


def drafts(api, customer: int, count: int) -> list[int]:  # noqa: ANN001
    ids = []
    for _ in range(count):
        inv = api.create_invoice(customer, "EUR")
        api.add_fee_line(customer, inv, "ADMIN", 1)
        ids.append(inv)
    return ids


def issue(customer: int, invoice_id: int) -> Callable[[psycopg.Connection], object]:
    return lambda conn: conn.execute("SELECT billing.issue_invoice(%s, %s)", [customer, invoice_id]).fetchone()[0]


def test_concurrent_issuers_get_consecutive_numbers_without_gaps(db, db_url, api, shop) -> None:
    c = shop["customer"]
    ids = drafts(api, c, 8)
    results = run_together(db_url, [issue(c, i) for i in ids])
    assert sorted(results) == [doc_no("INV", n, c) for n in range(1, 9)]
    by_time = db.execute("SELECT invoice_no FROM billing.invoice WHERE kind = 'invoice' ORDER BY issued_at").fetchall()
    assert [r[0] for r in by_time] == [doc_no("INV", n, c) for n in range(1, 9)]


def test_rolled_back_issue_leaves_no_gap_even_with_a_concurrent_issuer(db, db_url, api, shop) -> None:
    c = shop["customer"]
    rolled_back, waiting = drafts(api, c, 2)
    holding = threading.Event()

    def issue_then_roll_back(conn: psycopg.Connection) -> object:
        with conn.transaction(force_rollback=True):
            number = conn.execute("SELECT billing.issue_invoice(%s, %s)", [c, rolled_back]).fetchone()[0]
            holding.set()
            wait_until_blocked(conn)  # roll back only once the other issuer queues behind the series lock
        return number

    def issue_after(conn: psycopg.Connection) -> object:
        holding.wait()
        return issue(c, waiting)(conn)

    assert run_together(db_url, [issue_then_roll_back, issue_after]) == [doc_no("INV", 1, c)] * 2
    assert api.issue_invoice(c, rolled_back) == doc_no("INV", 2, c)
    assert db.execute("SELECT status FROM billing.invoice WHERE invoice_id = %s", [waiting]).fetchone()[0] == "issued"


def test_two_issuers_billing_the_last_units_of_a_line_one_succeeds(db, db_url, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": 1}])
    api.bill_order(c, order, {"1": 8})
    competing = []
    for _ in range(2):
        inv = api.create_invoice(c, "EUR")
        api.add_product_line(c, inv, order, 1, 2)
        competing.append(inv)
    results = run_together(db_url, [issue(c, i) for i in competing])
    failures = [r for r in results if isinstance(r, psycopg.Error)]
    assert len(failures) == 1 and failures[0].sqlstate == "23514", results
    assert db.execute("SELECT billed_quantity FROM billing.order_line WHERE order_id = %s", [order]).fetchone()[0] == 10
    assert db.execute("SELECT count(*) FROM billing.invoice WHERE status = 'issued'").fetchone()[0] == 2


def test_concurrent_credit_notes_never_credit_more_than_the_invoice(db, db_url, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 4, "unit_price": 10}])
    inv = api.bill_order(c, order)
    credit = lambda conn: conn.execute(  # noqa: E731
        "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 1, \"quantity\": 3}]')", [c, inv]).fetchone()[0]
    results = run_together(db_url, [credit] * 4)
    assert sum(not isinstance(r, psycopg.Error) for r in results) == 1, results
    assert db.execute("SELECT credited FROM billing.invoice_balance WHERE invoice_id = %s", [inv]).fetchone()[0] == D(30)
    assert db.execute("SELECT billed_quantity FROM billing.order_line WHERE order_id = %s", [order]).fetchone()[0] == 1


def test_eight_payments_racing_for_one_invoice_never_overpay_it(db, db_url, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "ADMIN", 100)
    api.issue_invoice(c, inv)
    payments = [api.record_payment(c, "EUR", 20, "CARD") for _ in range(8)]
    allocate = [lambda conn, p=p: conn.execute("SELECT billing.allocate_payment(%s, %s, %s, 20)", [c, p, inv]).fetchone()
                for p in payments]
    results = run_together(db_url, allocate)
    failures = [r for r in results if isinstance(r, psycopg.Error)]
    assert len(failures) == 3 and {f.sqlstate for f in failures} == {"23514"}, results
    assert db.execute("SELECT allocated FROM billing.invoice_balance WHERE invoice_id = %s", [inv]).fetchone()[0] == 100
    assert db.execute("SELECT sum(amount) FROM billing.allocation WHERE invoice_id = %s", [inv]).fetchone()[0] == 100


def test_one_payment_racing_into_eight_invoices_never_overspends(db, db_url, api, shop) -> None:
    c = shop["customer"]
    invoices = []
    for _ in range(8):
        inv = api.create_invoice(c, "EUR")
        api.add_fee_line(c, inv, "ADMIN", 20)
        api.issue_invoice(c, inv)
        invoices.append(inv)
    p = api.record_payment(c, "EUR", 100, "BANK_TRANSFER")
    allocate = [lambda conn, i=i: conn.execute("SELECT billing.allocate_payment(%s, %s, %s)", [c, p, i]).fetchone()
                for i in invoices]
    results = run_together(db_url, allocate)
    failures = [r for r in results if isinstance(r, psycopg.Error)]
    assert len(failures) == 3 and {f.sqlstate for f in failures} == {"55000"}, results  # nothing left to allocate
    assert db.execute("SELECT allocated FROM billing.payment_balance WHERE payment_id = %s", [p]).fetchone()[0] == 100


def test_eight_concurrent_auto_allocations_never_deadlock_or_overpay(db, db_url, api, shop) -> None:
    c = shop["customer"]
    for amount in (30, 50, 70, 90, 110):
        inv = api.create_invoice(c, "EUR")
        api.add_fee_line(c, inv, "ADMIN", amount)
        api.issue_invoice(c, inv)
    payments = [api.record_payment(c, "EUR", 45, "CARD") for _ in range(8)]
    strategies = ["oldest", "exact_then_oldest"] * 4
    auto = [lambda conn, p=p, s=s: conn.execute("SELECT count(*) FROM billing.auto_allocate(%s, %s, %s)", [c, p, s]).fetchone()
            for p, s in zip(payments, strategies)]
    results = run_together(db_url, auto)
    assert not any(isinstance(r, psycopg.Error) for r in results), results
    # 8 x 45 = 360 against 350 open: everything is paid, 10 stays unapplied
    assert db.execute("SELECT receivable, open_credit FROM billing.customer_balance WHERE customer_id = %s", [c]).fetchone() == (0, 10)
