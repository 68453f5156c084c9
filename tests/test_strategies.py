"""Reconciliation strategies: exact, oldest, exact_then_oldest, disputes skipped, pay_invoices, balances."""

from __future__ import annotations

import psycopg
import pytest
from helpers import refused, row


@pytest.fixture
def xyz(db, api, shop) -> dict[str, int]:
    """Outstanding invoices x (100, due first), y (50), z (70, due last) of one customer."""
    c = shop["customer"]
    ids = {"c": c}
    for name, amount, due_in in (("x", 100, 10), ("y", 50, 20), ("z", 70, 30)):
        inv = api.create_invoice(c, "EUR", None)
        db.execute("UPDATE billing.invoice SET due_date = current_date + %s WHERE invoice_id = %s", [due_in, inv])
        api.add_fee_line(c, inv, "ADMIN", amount)
        api.issue_invoice(c, inv)
        ids[name] = inv
    return ids


def allocated(db, api, c: int, amount: int, strategy: str | None = None) -> list[tuple]:  # noqa: ANN001
    p = api.record_payment(c, "EUR", amount, "BANK_TRANSFER")
    args = [c, p] + ([strategy] if strategy else [])
    placeholders = ", ".join(["%s"] * len(args))
    return db.execute(f"SELECT invoice_id, amount FROM billing.auto_allocate({placeholders})", args).fetchall()


def test_payment_larger_than_x_goes_to_x_then_y(db, api, xyz) -> None:
    assert allocated(db, api, xyz["c"], 120) == [(xyz["x"], 100), (xyz["y"], 20)]


def test_payment_equal_to_z_goes_to_z(db, api, xyz) -> None:
    assert allocated(db, api, xyz["c"], 70) == [(xyz["z"], 70)]


def test_oldest_skips_a_disputed_invoice(db, api, xyz) -> None:
    api.dispute_invoice(xyz["c"], xyz["y"], "never received")
    assert allocated(db, api, xyz["c"], 150, "oldest") == [(xyz["x"], 100), (xyz["z"], 50)]


def test_exact_allocates_nothing_without_a_match_and_oldest_keeps_the_remainder(db, api, xyz) -> None:
    c = xyz["c"]
    assert allocated(db, api, c, 60, "exact") == []
    assert row(db, "SELECT receivable, open_credit, net FROM billing.customer_balance WHERE customer_id = %s", [c]) == {
        "receivable": 220, "open_credit": 60, "net": 160}
    assert allocated(db, api, c, 300, "oldest") == [(xyz["x"], 100), (xyz["y"], 50), (xyz["z"], 70)]
    assert row(db, "SELECT receivable, open_credit FROM billing.customer_balance WHERE customer_id = %s", [c]) == {
        "receivable": 0, "open_credit": 140}


def test_strategies_ignore_other_currencies_and_other_customers(db, api, xyz, shop) -> None:
    c = xyz["c"]
    usd = api.create_invoice(c, "USD")
    api.add_fee_line(c, usd, "ADMIN", 70)
    api.issue_invoice(c, usd)
    theirs = api.create_invoice(shop["other"], "EUR")
    api.add_fee_line(shop["other"], theirs, "ADMIN", 70)
    api.issue_invoice(shop["other"], theirs)
    assert allocated(db, api, c, 70) == [(xyz["z"], 70)]


def test_bad_strategy_and_canceled_payment_are_refused(db, api, xyz) -> None:
    c = xyz["c"]
    p = api.record_payment(c, "EUR", 10, "CASH")
    refused(db, "22023", "SELECT * FROM billing.auto_allocate(%s, %s, 'newest')", [c, p])
    refused(db, "23503", "SELECT * FROM billing.auto_allocate(%s, 999999)", [c])
    api.cancel_payment(c, p, "bounced")
    refused(db, "55000", "SELECT * FROM billing.auto_allocate(%s, %s)", [c, p])


def test_pay_invoices_pays_in_the_given_order_and_keeps_the_rest(db, api, xyz) -> None:
    c = xyz["c"]
    p = db.execute("SELECT billing.pay_invoices(%s, 'EUR', 130, 'CARD', %s::bigint[], 'one transfer for two')",
                   [c, [xyz["z"], xyz["y"]]]).fetchone()[0]
    paid = db.execute("SELECT invoice_id, amount FROM billing.allocation WHERE payment_id = %s ORDER BY allocation_id", [p]).fetchall()
    assert paid == [(xyz["z"], 70), (xyz["y"], 50)]
    assert row(db, "SELECT unallocated, reference FROM billing.payment_summary WHERE payment_id = %s", [p]) == {
        "unallocated": 10, "reference": "one transfer for two"}
    refused(db, "23503", "SELECT billing.pay_invoices(%s, 'EUR', 10, 'CARD', ARRAY[999999]::bigint[])", [c])
    refused(db, "22023", "SELECT billing.pay_invoices(%s, 'EUR', 10, 'CARD', ARRAY[]::bigint[])", [c])


def test_strategies_read_open_items_through_the_partial_index(db, api, xyz) -> None:
    db.execute("SET enable_seqscan = off")  # a tiny table: make the planner show which index it can use
    plan = "\n".join(r[0] for r in db.execute(
        "EXPLAIN SELECT b.invoice_id FROM billing.invoice_balance AS b"
        " WHERE b.customer_id = %s AND b.total - b.allocated - b.refunded > 0", [xyz["c"]]))
    assert "invoice_balance_open_amount_idx" in plan, plan


def test_auto_allocate_locks_only_the_invoices_it_pays(db, db_url, api, xyz) -> None:
    """Its cost follows what the payment pays, not how many invoices are open: an open invoice it does not reach
    may be locked by another transaction without making it wait (were it waited for, 55P03 after 5 s)."""
    c = xyz["c"]
    p = api.record_payment(c, "EUR", 120, "BANK_TRANSFER")
    with psycopg.connect(db_url) as other:
        other.execute("SELECT FROM billing.invoice_balance WHERE invoice_id = %s FOR UPDATE", [xyz["z"]])
        with psycopg.connect(db_url, autocommit=True) as caller:
            got = caller.execute("SELECT invoice_id, amount FROM billing.auto_allocate(%s, %s)", [c, p]).fetchall()
        other.rollback()
    assert got == [(xyz["x"], 100), (xyz["y"], 20)]
