"""Property test: random sequences of invoice, pay, allocate, auto_allocate, unallocate, credit, refund, cancel and
write-off keep the books consistent after every step (the statement closing at customer_balance's net among them),
and replaying the history to any past moment gives the open amounts, and open_items as of that moment gives the open
items, seen at that moment. Each example works on a customer of its own."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
from helpers import D, Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# 23505: disputing an invoice that is disputed already.
EXPECTED_REFUSALS = {"23514", "55000", "23503", "22023", "23505"}

index = st.integers(min_value=0, max_value=30)
cents = st.integers(min_value=1, max_value=20000)
operation = st.one_of(
    st.tuples(st.just("invoice"), cents),
    st.tuples(st.just("pay"), cents),
    st.tuples(st.just("allocate"), index, index, st.none() | cents),
    st.tuples(st.just("auto"), index, st.sampled_from(["oldest", "exact", "exact_then_oldest"])),
    st.tuples(st.just("unallocate"), index),
    st.tuples(st.just("credit"), index, cents),
    st.tuples(st.just("apply_credit"), index, index),
    st.tuples(st.just("refund"), cents),
    st.tuples(st.just("cancel_payment"), index),
    st.tuples(st.just("write_off"), index),
    st.tuples(st.just("void"), index),
    st.tuples(st.just("dispute"), index),
)

# Every row is a broken rule; an empty result is a consistent customer.
INVARIANTS = """
WITH inv AS (
    SELECT i.invoice_id, i.kind, i.total, b.allocated, b.refunded
    FROM billing.invoice AS i JOIN billing.invoice_balance AS b USING (customer_id, invoice_id)
    WHERE i.customer_id = %(c)s
), pay AS (
    SELECT p.payment_id, b.amount, b.allocated, b.refunded, b.voided
    FROM billing.payment AS p JOIN billing.payment_balance AS b USING (customer_id, payment_id)
    WHERE p.customer_id = %(c)s
), alloc AS (
    SELECT * FROM billing.allocation WHERE customer_id = %(c)s
), totals AS (
    SELECT
        (SELECT coalesce(sum(total), 0) FROM inv WHERE kind = 'invoice') AS invoiced,
        (SELECT coalesce(sum(total), 0) FROM inv WHERE kind = 'credit_note') AS credited,
        (SELECT coalesce(sum(amount - voided), 0) FROM pay) AS paid,
        (SELECT coalesce(sum(amount), 0) FROM billing.refund WHERE customer_id = %(c)s) AS refunded,
        (SELECT coalesce(sum(amount), 0) FROM billing.write_off WHERE customer_id = %(c)s) AS written_off,
        (SELECT coalesce(sum(receivable - open_credit), 0) FROM billing.customer_balance WHERE customer_id = %(c)s) AS net
)
SELECT 'books: invoiced - credited - paid + refunded - written off = ' || (invoiced - credited - paid + refunded - written_off)
    || ', receivable - open credit = ' || net
FROM totals WHERE invoiced - credited - paid + refunded - written_off <> net
UNION ALL
SELECT 'invoice ' || invoice_id || ' allocated ' || allocated || ', history says ' || h.sum
FROM inv, LATERAL (
    SELECT coalesce((SELECT sum(amount) FROM alloc WHERE alloc.invoice_id = inv.invoice_id), 0)
        + coalesce((SELECT sum(amount) FROM billing.write_off AS w WHERE w.customer_id = %(c)s AND w.invoice_id = inv.invoice_id), 0) AS sum
) AS h
WHERE kind = 'invoice' AND (allocated <> h.sum OR allocated > total OR allocated < 0)
UNION ALL
SELECT 'credit note ' || invoice_id || ' applied ' || allocated || ' refunded ' || refunded || ', history disagrees'
FROM inv
WHERE kind = 'credit_note' AND (
    allocated <> coalesce((SELECT sum(amount) FROM alloc WHERE alloc.credit_note_id = inv.invoice_id), 0)
    OR refunded <> coalesce((SELECT sum(amount) FROM billing.refund_part AS r WHERE r.customer_id = %(c)s AND r.credit_note_id = inv.invoice_id), 0)
    OR allocated + refunded > total)
UNION ALL
SELECT 'payment ' || payment_id || ' allocated ' || allocated || ' refunded ' || refunded || ', history disagrees'
FROM pay
WHERE allocated <> coalesce((SELECT sum(amount) FROM alloc WHERE alloc.payment_id = pay.payment_id), 0)
    OR refunded <> coalesce((SELECT sum(amount) FROM billing.refund_part AS r WHERE r.customer_id = %(c)s AND r.payment_id = pay.payment_id), 0)
    OR allocated + refunded + voided > amount
UNION ALL
-- a canceled invoice has nothing open
SELECT 'canceled invoice ' || inv.invoice_id || ' has ' || (inv.total - inv.allocated) || ' open'
FROM inv JOIN billing.invoice_cancellation AS x ON x.customer_id = %(c)s AND x.invoice_id = inv.invoice_id
WHERE inv.total <> inv.allocated
UNION ALL
-- credit that can leave as cash came in as cash: open credit <= payments - refunds - what bounced
SELECT 'open credit ' || credit || ' exceeds the net cash received ' || cash
FROM (
    SELECT (SELECT coalesce(sum(amount - allocated - refunded - voided), 0) FROM pay)
        + (SELECT coalesce(sum(total - allocated - refunded), 0) FROM inv WHERE kind = 'credit_note') AS credit,
        (SELECT coalesce(sum(amount - voided), 0) FROM pay)
        - (SELECT coalesce(sum(amount), 0) FROM billing.refund WHERE customer_id = %(c)s) AS cash
) AS m
WHERE credit > cash
UNION ALL
-- nothing open is unreachable: every open invoice not in dispute is offered to allocation
SELECT 'open invoice ' || inv.invoice_id || ' is not offered by open_invoices'
FROM inv
WHERE inv.kind = 'invoice' AND inv.total > inv.allocated AND NOT EXISTS (
    SELECT FROM billing.invoice_dispute AS d
    WHERE d.customer_id = %(c)s AND d.invoice_id = inv.invoice_id AND d.resolved_at IS NULL
) AND inv.invoice_id NOT IN (
    SELECT o.invoice_id FROM billing.open_invoices(%(c)s, 'EUR') AS o)
UNION ALL
SELECT 'statement closes at ' || s.balance || ' ' || s.currency || ', customer_balance says ' || coalesce(b.net, 0)
FROM billing.customer_statement(%(c)s, current_date, current_date) AS s
LEFT JOIN billing.customer_balance AS b ON b.customer_id = %(c)s AND b.currency = s.currency
WHERE s.entry = 'closing_balance' AND s.balance <> coalesce(b.net, 0)
"""

OPEN_NOW = """
SELECT invoice_id, open_amount FROM billing.invoice_summary
WHERE customer_id = %(c)s AND kind = 'invoice' AND status = 'issued' ORDER BY 1
"""

# The same open amounts computed from history alone, as of a past moment.
OPEN_AS_OF = """
SELECT i.invoice_id, i.total
    - coalesce((SELECT sum(a.amount) FROM billing.allocation AS a
                WHERE a.customer_id = i.customer_id AND a.invoice_id = i.invoice_id AND a.allocated_at <= %(t)s), 0)
    - coalesce((SELECT sum(w.amount) FROM billing.write_off AS w
                WHERE w.customer_id = i.customer_id AND w.invoice_id = i.invoice_id AND w.written_off_at <= %(t)s), 0)
FROM billing.invoice AS i
WHERE i.customer_id = %(c)s AND i.kind = 'invoice' AND i.issued_at <= %(t)s ORDER BY 1
"""

# What the open_items report says, now (the default) or as of %(t)s.
OPEN_ITEMS = "SELECT kind, document_id, open_amount FROM billing.open_items({}) WHERE customer_id = %(c)s ORDER BY 1, 2"



def apply(api: Api, db: psycopg.Connection, c: int, op: tuple, seen: dict[str, list[int]]) -> None:
    kind, *args = op
    pick = lambda name, i: seen[name][i % len(seen[name])] if seen[name] else None  # noqa: E731
    money = lambda n: D(n) / 100  # noqa: E731
    if kind == "invoice":
        inv = api.create_invoice(c, "EUR")
        api.add_fee_line(c, inv, "ADMIN", money(args[0]))
        api.issue_invoice(c, inv)
        seen["invoices"].append(inv)
    elif kind == "pay":
        seen["payments"].append(api.record_payment(c, "EUR", money(args[0]), "CARD"))
    elif kind == "refund":
        api.refund(c, "EUR", money(args[0]), "BANK_TRANSFER")
    elif kind in ("allocate", "auto", "cancel_payment") and seen["payments"]:
        p = pick("payments", args[0])
        if kind == "allocate" and seen["invoices"]:
            api.allocate_payment(c, p, pick("invoices", args[1]), None if args[2] is None else money(args[2]))
        elif kind == "auto":
            db.execute("SELECT * FROM billing.auto_allocate(%s, %s, %s)", [c, p, args[1]])
        elif kind == "cancel_payment":
            api.cancel_payment(c, p, "property test")
    elif kind == "unallocate":
        allocations = [r[0] for r in db.execute(
            "SELECT allocation_id FROM billing.allocation WHERE customer_id = %s ORDER BY 1", [c])]
        if allocations:
            api.unallocate(c, allocations[args[0] % len(allocations)])
    elif kind in ("apply_credit",) and seen["credit_notes"] and seen["invoices"]:
        api.apply_credit_note(c, pick("credit_notes", args[0]), pick("invoices", args[1]))
    elif seen["invoices"] and kind in ("credit", "write_off", "void", "dispute"):
        inv = pick("invoices", args[0])
        if kind == "credit":
            seen["credit_notes"].append(api.issue_credit_note(c, inv, [{"line_no": 1, "amount": float(money(args[1]))}]))
        elif kind == "write_off":
            api.write_off(c, inv)
        elif kind == "void":
            seen["credit_notes"].append(api.void_invoice(c, inv, "property test"))
        else:
            api.dispute_invoice(c, inv, "property test")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=30))
def test_random_payment_sequences_keep_the_books_and_the_history_true(db: psycopg.Connection, api: Api, ops: list[tuple]) -> None:
    c = api.create_customer("property")
    seen: dict[str, list[int]] = {"invoices": [], "payments": [], "credit_notes": []}
    moments: list[tuple[datetime, list[tuple[int, Decimal]], list[tuple]]] = []
    for op in ops:
        try:
            apply(api, db, c, op, seen)
        except psycopg.Error as exc:
            assert exc.sqlstate in EXPECTED_REFUSALS, f"{op}: {exc.sqlstate} {exc}"
        broken = db.execute(INVARIANTS, {"c": c}).fetchall()
        assert broken == [], f"after {op}: {broken}"
        items_then = db.execute(OPEN_ITEMS.format(""), {"c": c}).fetchall()
        moments.append((db.execute("SELECT clock_timestamp()").fetchone()[0], db.execute(OPEN_NOW, {"c": c}).fetchall(),
                        items_then))
    for moment, open_then, items_then in moments:
        assert db.execute(OPEN_AS_OF, {"c": c, "t": moment}).fetchall() == open_then, f"as of {moment}"
        assert db.execute(OPEN_ITEMS.format("%(t)s"), {"c": c, "t": moment}).fetchall() == items_then, f"as of {moment}"
