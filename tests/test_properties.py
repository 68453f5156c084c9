"""Property test: random sequences of order, charge, bill, credit, void and cancel never over-bill an order
line or charge, never credit more than was invoiced, and keep every running total equal to what the
issued documents say. Each example works on a customer of its own."""

from __future__ import annotations

import psycopg
from helpers import D, Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Refusals the API may legitimately answer to a random call: over-billing or over-crediting (23514), a
# document or order in the wrong state (55000), a line that does not exist (23503), a bad argument (22023).
EXPECTED_REFUSALS = {"23514", "55000", "23503", "22023"}

index = st.integers(min_value=0, max_value=20)
operation = st.one_of(
    st.tuples(st.just("order"), st.lists(st.integers(1, 6), min_size=1, max_size=3)),
    st.tuples(st.just("charge"), index, st.integers(1, 999)),
    st.tuples(st.just("bill"), index, st.none() | st.tuples(index, st.integers(1, 6))),
    st.tuples(st.just("credit_quantity"), index, index, st.integers(1, 4)),
    st.tuples(st.just("credit_amount"), index, index, st.integers(1, 999)),
    st.tuples(st.just("credit_all"), index),
    st.tuples(st.just("void"), index),
    st.tuples(st.just("cancel"), index),
)

INVARIANTS = """
WITH issued AS (
    SELECT * FROM billing.invoice WHERE customer_id = %(c)s AND status = 'issued'
), credited_line AS (
    SELECT cl.credited_invoice_id AS invoice_id, cl.credited_line_no AS line_no,
        coalesce(sum(cl.quantity), 0) AS quantity, sum(cl.amount) AS amount
    FROM billing.credit_note_line AS cl JOIN issued AS cn ON cn.invoice_id = cl.credit_note_id
    GROUP BY 1, 2
)
SELECT 'order line billed ' || ol.billed_quantity || ' of ' || ol.quantity || ', documents say ' || coalesce(d.net, 0)
FROM billing.order_line AS ol
LEFT JOIN LATERAL (
    SELECT sum(l.quantity - coalesce(cr.quantity, 0)) AS net
    FROM billing.invoice_product_line AS p
    JOIN issued AS i ON i.invoice_id = p.invoice_id
    JOIN billing.invoice_line AS l ON (l.customer_id, l.invoice_id, l.line_no) = (p.customer_id, p.invoice_id, p.line_no)
    LEFT JOIN credited_line AS cr ON cr.invoice_id = p.invoice_id AND cr.line_no = p.line_no
    WHERE p.customer_id = ol.customer_id AND p.order_id = ol.order_id AND p.order_line_no = ol.line_no
) AS d ON TRUE
WHERE ol.customer_id = %(c)s AND (ol.billed_quantity <> coalesce(d.net, 0) OR ol.billed_quantity > ol.quantity)
UNION ALL
SELECT 'order charge billed ' || oc.billed_amount || ' of ' || oc.amount || ', documents say ' || coalesce(d.net, 0)
FROM billing.order_charge AS oc
LEFT JOIN LATERAL (
    SELECT sum(l.amount - coalesce(cr.amount, 0)) AS net
    FROM billing.invoice_fee_line AS f
    JOIN issued AS i ON i.invoice_id = f.invoice_id
    JOIN billing.invoice_line AS l ON (l.customer_id, l.invoice_id, l.line_no) = (f.customer_id, f.invoice_id, f.line_no)
    LEFT JOIN credited_line AS cr ON cr.invoice_id = f.invoice_id AND cr.line_no = f.line_no
    WHERE f.customer_id = oc.customer_id AND f.order_id = oc.order_id AND f.order_charge_no = oc.charge_no
) AS d ON TRUE
WHERE oc.customer_id = %(c)s AND (oc.billed_amount <> coalesce(d.net, 0) OR oc.billed_amount > oc.amount)
UNION ALL
SELECT 'invoice ' || i.invoice_no || ' credited ' || b.credited || ' of ' || i.total || ', credit notes say ' || coalesce(cn.total, 0)
FROM issued AS i
JOIN billing.invoice_balance AS b ON (b.customer_id, b.invoice_id) = (i.customer_id, i.invoice_id)
LEFT JOIN LATERAL (SELECT sum(x.total) AS total FROM issued AS x WHERE x.credited_invoice_id = i.invoice_id) AS cn ON TRUE
WHERE b.credited <> coalesce(cn.total, 0) OR b.credited > i.total OR b.total <> i.total
UNION ALL
SELECT 'line ' || l.line_no || ' of invoice ' || l.invoice_id || ' credited beyond what it billed'
FROM billing.invoice_line AS l JOIN credited_line AS cr ON (cr.invoice_id, cr.line_no) = (l.invoice_id, l.line_no)
WHERE l.customer_id = %(c)s AND (cr.quantity > l.quantity OR abs(cr.amount) > abs(l.amount) OR sign(cr.amount) * sign(l.amount) < 0)
UNION ALL
SELECT 'invoice numbers ' || s.series || '... have a gap: ' || count(*) || ' issued, highest ' || max(s.n)
FROM (  -- INV-000042, or INV-7-000042 when kept per customer: a series per prefix
    SELECT split_part(invoice_no, '-', -1)::integer AS n, left(invoice_no, -length(split_part(invoice_no, '-', -1))) AS series
    FROM billing.invoice WHERE kind = 'invoice' AND status = 'issued'
) AS s
GROUP BY s.series HAVING count(*) <> max(s.n)
"""


def apply(api: Api, c: int, op: tuple, orders: list[int], invoices: list[int]) -> None:
    kind, *args = op
    pick = lambda items, i: items[i % len(items)]  # noqa: E731
    if kind == "order":
        orders.append(api.place_order(c, "EUR", [{"sku": "A-1", "quantity": q, "unit_price": "1.25"} for q in args[0]]))
    elif not orders:
        return
    elif kind == "charge":
        api.add_order_charge(c, pick(orders, args[0]), "SHIPPING", D(args[1]) / 100)
    elif kind == "bill":
        part = None if args[1] is None else {str(args[1][0] % 3 + 1): args[1][1]}
        invoices.append(api.bill_order(c, pick(orders, args[0]), part))
    elif kind == "cancel":
        api.cancel_order(c, pick(orders, args[0]), "property test")
    elif not invoices:
        return
    elif kind == "credit_quantity":
        api.issue_credit_note(c, pick(invoices, args[0]), [{"line_no": args[1] % 4 + 1, "quantity": args[2]}])
    elif kind == "credit_amount":
        api.issue_credit_note(c, pick(invoices, args[0]), [{"line_no": args[1] % 4 + 1, "amount": float(D(args[2]) / 100)}])
    elif kind == "credit_all":
        api.issue_credit_note(c, pick(invoices, args[0]))
    elif kind == "void":
        api.void_invoice(c, pick(invoices, args[0]), "property test")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_random_billing_sequences_keep_every_total_true(db: psycopg.Connection, api: Api, ops: list[tuple]) -> None:
    if not db.execute("SELECT 1 FROM billing.product WHERE sku = 'A-1'").fetchone():
        api.create_product("A-1", "Widget")
    c = api.create_customer("property")
    orders: list[int] = []
    invoices: list[int] = []
    for op in ops:
        try:
            apply(api, c, op, orders, invoices)
        except psycopg.Error as exc:
            assert exc.sqlstate in EXPECTED_REFUSALS, f"{op}: {exc.sqlstate} {exc}"
        broken = db.execute(INVARIANTS, {"c": c}).fetchall()
        assert broken == [], f"after {op}: {broken}"
