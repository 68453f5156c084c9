-- Views: how documents, lines and orders read, including what is derived (credited, canceled, disputed).

CREATE OR REPLACE VIEW billing.active_allocation AS
SELECT
    a.customer_id,
    a.allocation_id,
    a.currency,
    a.invoice_id,
    a.payment_id,
    a.credit_note_id,
    a.amount,
    a.allocated_at,
    a.reason,
    a.allocated_by
FROM billing.allocation AS a
-- at most one reversal per allocation (allocation_reverses_key)
LEFT JOIN billing.allocation AS r ON a.customer_id = r.customer_id AND a.allocation_id = r.reverses_allocation_id
WHERE a.reverses_allocation_id IS NULL AND r.allocation_id IS NULL;

COMMENT ON VIEW billing.active_allocation IS 'Allocations that stand: not reversals, and not reversed.';

CREATE OR REPLACE VIEW billing.invoice_summary AS
WITH a AS (
    SELECT
        al.customer_id,
        al.invoice_id,
        sum(al.amount) AS paid
    FROM billing.allocation AS al
    WHERE al.payment_id IS NOT NULL
    GROUP BY al.customer_id, al.invoice_id
),

w AS (
    SELECT
        wo.customer_id,
        wo.invoice_id,
        sum(wo.amount) AS written_off
    FROM billing.write_off AS wo
    GROUP BY wo.customer_id, wo.invoice_id
)

SELECT
    i.customer_id,
    i.invoice_id,
    i.invoice_no,
    i.kind,
    i.status,
    i.currency,
    i.issued_at,
    i.due_date,
    i.total,
    coalesce(b.credited, 0) AS credited,
    i.credited_invoice_id,
    i.reason,
    d.invoice_id IS NOT NULL AS is_disputed,
    c.invoice_id IS NOT NULL AS is_canceled,
    c.canceled_time,
    c.cancel_reason,
    coalesce(a.paid, 0) AS paid,
    b.total - b.allocated - b.refunded AS open_amount,
    CASE
        WHEN i.kind <> 'invoice' OR i.status <> 'issued' THEN NULL
        WHEN c.invoice_id IS NOT NULL THEN 'canceled'
        WHEN b.allocated = b.total AND w.written_off > 0 THEN 'written_off'
        WHEN b.allocated = b.total AND coalesce(a.paid, 0) = 0 AND b.total > 0 THEN 'credited'
        WHEN b.allocated = b.total THEN 'paid'
        WHEN coalesce(a.paid, 0) > 0 THEN 'partially_paid'
        ELSE 'open'
    END AS payment_status,
    coalesce(w.written_off, 0) AS written_off
FROM billing.invoice AS i
LEFT JOIN billing.invoice_balance AS b ON i.customer_id = b.customer_id AND i.invoice_id = b.invoice_id
-- grouped subqueries, not LATERAL ones: see invoice_line_summary
LEFT JOIN a ON i.customer_id = a.customer_id AND i.invoice_id = a.invoice_id
LEFT JOIN w ON i.customer_id = w.customer_id AND i.invoice_id = w.invoice_id
LEFT JOIN billing.invoice_cancellation AS c ON i.customer_id = c.customer_id AND i.invoice_id = c.invoice_id
-- at most one open dispute per invoice (invoice_dispute_open_key)
LEFT JOIN billing.invoice_dispute AS d
    ON i.customer_id = d.customer_id AND i.invoice_id = d.invoice_id AND d.resolved_at IS NULL;

COMMENT ON VIEW billing.invoice_summary IS
'One row per invoice and credit note (drafts included, status draft): total, how much credit notes took back '
'(credited), open dispute, cancellation (time and reason, from billing.invoice_cancellation), paid (by payments), '
'open_amount (an invoice: not yet paid, credited or written off; a credit note: its unapplied, unrefunded rest), '
'payment_status (open, partially_paid, paid, credited, written_off, canceled; NULL for drafts and credit notes) '
'and written_off.';

CREATE OR REPLACE VIEW billing.invoice_line_summary AS
WITH cr AS (
    SELECT
        cl.customer_id,
        cl.credited_invoice_id,
        cl.credited_line_no,
        sum(cl.quantity) AS quantity,
        sum(cl.amount) AS amount
    FROM billing.credit_note_line AS cl
    INNER JOIN billing.invoice AS cn ON cl.customer_id = cn.customer_id AND cl.credit_note_id = cn.invoice_id
    WHERE cn.status = 'issued'
    GROUP BY cl.customer_id, cl.credited_invoice_id, cl.credited_line_no
)

SELECT
    l.customer_id,
    l.invoice_id,
    l.line_no,
    l.line_type,
    l.quantity,
    l.unit_amount,
    l.amount,
    l.description,
    coalesce(p.order_id, f.order_id) AS order_id,
    p.order_line_no,
    f.order_charge_no,
    f.fee_code,
    t.tax_code,
    t.rate AS tax_rate,
    coalesce(cr.quantity, 0) AS credited_quantity,
    coalesce(cr.amount, 0) AS credited_amount,
    c.invoice_id IS NOT NULL AS is_canceled,
    c.canceled_time,
    c.cancel_reason,
    l.quantity - coalesce(cr.quantity, 0) AS quantity_left,
    l.amount - coalesce(cr.amount, 0) AS amount_left,
    l.line_type <> 'memo' AND (
        l.amount <> coalesce(cr.amount, 0) OR l.unit_amount IS NOT NULL AND l.quantity > coalesce(cr.quantity, 0)
    ) AS has_credit_left
FROM billing.invoice_line AS l
LEFT JOIN billing.invoice_product_line AS p
    ON l.customer_id = p.customer_id AND l.invoice_id = p.invoice_id AND l.line_no = p.line_no
LEFT JOIN billing.invoice_fee_line AS f
    ON l.customer_id = f.customer_id AND l.invoice_id = f.invoice_id AND l.line_no = f.line_no
LEFT JOIN billing.invoice_tax_line AS t
    ON l.customer_id = t.customer_id AND l.invoice_id = t.invoice_id AND l.line_no = t.line_no
LEFT JOIN billing.invoice_cancellation AS c ON l.customer_id = c.customer_id AND l.invoice_id = c.invoice_id
-- Grouped subqueries joined on the customer, not LATERAL ones: Citus then runs a query filtered by customer on
-- that customer's shards alone (README, Scale-out), and PostgreSQL pushes the customer's filter into them.
LEFT JOIN
    cr
    ON l.customer_id = cr.customer_id AND l.invoice_id = cr.credited_invoice_id AND l.line_no = cr.credited_line_no;

COMMENT ON VIEW billing.invoice_line_summary IS
'One row per invoice line, with what it bills (order, order line or charge, fee, tax), what issued credit notes '
'took back and what is left (has_credit_left: an amount, or units of a priced line, not yet credited), and the '
'cancellation of its invoice.';

CREATE OR REPLACE VIEW billing.order_summary AS
WITH ol AS (
    SELECT
        l.customer_id,
        l.order_id,
        sum(billing.round_money(l.quantity * l.unit_price, so.currency)) AS total,
        sum(billing.round_money((l.quantity - l.billed_quantity) * l.unit_price, so.currency)) AS unbilled
    FROM billing.order_line AS l
    INNER JOIN billing.sales_order AS so ON l.customer_id = so.customer_id AND l.order_id = so.order_id
    GROUP BY l.customer_id, l.order_id
),

oc AS (
    SELECT
        c.customer_id,
        c.order_id,
        sum(c.amount) AS total,
        sum(c.amount - c.billed_amount) AS unbilled
    FROM billing.order_charge AS c
    GROUP BY c.customer_id, c.order_id
),

inv AS (
    SELECT
        s.customer_id,
        s.order_id,
        sum(s.amount) AS invoiced,
        sum(s.credited_amount) AS credited
    FROM billing.invoice_line_summary AS s
    INNER JOIN billing.invoice AS i ON s.customer_id = i.customer_id AND s.invoice_id = i.invoice_id
    WHERE i.status = 'issued'
    GROUP BY s.customer_id, s.order_id
),

pay AS (
    -- An invoice may bill several orders: each gets the share of the invoice's paid and open amounts that its
    -- product and fee lines make of all the invoice's (discounts and tax are spread with them), split by largest
    -- remainder among the parts (each order's, and fees of none), so the parts add up to the invoice exactly.
    SELECT
        sh.customer_id,
        sh.order_id,
        sum(sh.paid) AS paid,
        sum(sh.open_amount) AS open_amount
    FROM (
        SELECT
            x.customer_id,
            x.order_id,
            x.paid_floor + x.unit * (
                row_number() OVER (
                    PARTITION BY x.customer_id, x.invoice_id ORDER BY x.paid_exact - x.paid_floor DESC, x.order_id
                ) <= (x.paid - sum(x.paid_floor) OVER (PARTITION BY x.customer_id, x.invoice_id)) / x.unit
            )::integer AS paid,
            x.open_floor + x.unit * (
                row_number() OVER (
                    PARTITION BY x.customer_id, x.invoice_id ORDER BY x.open_exact - x.open_floor DESC, x.order_id
                ) <= (x.open_amount - sum(x.open_floor) OVER (PARTITION BY x.customer_id, x.invoice_id)) / x.unit
            )::integer AS open_amount
        FROM (
            SELECT
                y.*,
                trunc(y.paid_exact, y.minor_units) AS paid_floor,
                trunc(y.open_exact, y.minor_units) AS open_floor
            FROM (
                SELECT
                    part.customer_id,
                    part.invoice_id,
                    part.order_id,
                    v.paid,
                    v.open_amount,
                    v.paid * part.amount / sum(part.amount) OVER (PARTITION BY part.customer_id, part.invoice_id)
                        AS paid_exact,
                    v.open_amount * part.amount / sum(part.amount) OVER (
                        PARTITION BY part.customer_id, part.invoice_id
                    ) AS open_exact,
                    m.minor_units,
                    trunc(power(10::numeric, -m.minor_units), m.minor_units) AS unit
                FROM (
                    SELECT
                        s.customer_id,
                        s.invoice_id,
                        s.order_id,
                        sum(s.amount) AS amount
                    FROM billing.invoice_line_summary AS s
                    WHERE s.line_type IN ('product', 'fee')
                    GROUP BY s.customer_id, s.invoice_id, s.order_id
                ) AS part
                INNER JOIN billing.invoice_summary AS v
                    ON part.customer_id = v.customer_id AND part.invoice_id = v.invoice_id
                INNER JOIN billing.currency AS m ON v.currency = m.code
                WHERE v.status = 'issued' AND v.total > 0
            ) AS y
        ) AS x
    ) AS sh
    GROUP BY sh.customer_id, sh.order_id
)

SELECT
    o.customer_id,
    o.order_id,
    o.order_ref,
    o.currency,
    o.placed_at,
    coalesce(ol.total, 0) + coalesce(oc.total, 0) AS order_total,
    coalesce(inv.invoiced, 0) AS invoiced,
    coalesce(inv.credited, 0) AS credited,
    CASE WHEN o.is_canceled THEN 0 ELSE coalesce(ol.unbilled, 0) + coalesce(oc.unbilled, 0) END AS unbilled,
    o.is_canceled,
    o.canceled_time,
    o.cancel_reason,
    coalesce(pay.paid, 0) AS paid,
    coalesce(pay.open_amount, 0) AS open_amount,
    CASE
        WHEN o.is_canceled THEN 'canceled'
        WHEN coalesce(inv.invoiced, 0) = 0 THEN 'unbilled'
        WHEN coalesce(pay.open_amount, 0) > 0 AND coalesce(pay.paid, 0) > 0 THEN 'partially_paid'
        WHEN coalesce(pay.open_amount, 0) > 0 THEN 'open'
        WHEN coalesce(pay.paid, 0) > 0 THEN 'paid'
        ELSE 'credited'
    END AS payment_status
FROM billing.sales_order AS o
-- grouped subqueries, not LATERAL ones: see invoice_line_summary
LEFT JOIN ol ON o.customer_id = ol.customer_id AND o.order_id = ol.order_id
LEFT JOIN oc ON o.customer_id = oc.customer_id AND o.order_id = oc.order_id
LEFT JOIN inv ON o.customer_id = inv.customer_id AND o.order_id = inv.order_id
LEFT JOIN pay ON o.customer_id = pay.customer_id AND o.order_id = pay.order_id;

COMMENT ON VIEW billing.order_summary IS
'One row per order: order_total (lines at their unit price plus charges), invoiced (issued product and fee lines '
'billing it), credited (what credit notes took back of those), unbilled (what bill_order would bill next; '
'0 once canceled), its cancellation, and paid and open_amount: the share of its invoices'' paid and open '
'amounts that its product and fee lines make of each invoice''s (largest remainder: the shares of an invoice add '
'up to it), and payment_status (unbilled, open, partially_paid, paid, '
'credited, canceled; it speaks of what is invoiced: see unbilled for the rest).';

CREATE OR REPLACE VIEW billing.payment_summary AS
SELECT
    p.customer_id,
    p.payment_id,
    p.payment_no,
    m.code AS method,
    p.currency,
    p.amount,
    b.allocated,
    b.amount - b.allocated - b.refunded - b.voided AS unallocated,
    p.received_at,
    c.payment_id IS NOT NULL AS is_canceled,
    c.canceled_time,
    c.cancel_reason,
    p.comments,
    b.refunded,
    p.reference,
    p.recorded_at
FROM billing.payment AS p
INNER JOIN billing.payment_method AS m ON p.method_id = m.method_id
INNER JOIN billing.payment_balance AS b ON p.customer_id = b.customer_id AND p.payment_id = b.payment_id
LEFT JOIN billing.payment_cancellation AS c ON p.customer_id = c.customer_id AND p.payment_id = c.payment_id;

COMMENT ON VIEW billing.payment_summary IS
'One row per payment: method, amount, what is allocated to invoices, what is left unallocated (open credit; '
'0 once canceled), refunded, and its cancellation.';

CREATE OR REPLACE VIEW billing.customer_balance AS
SELECT
    open_item.customer_id,
    open_item.currency,
    sum(open_item.receivable) AS receivable,
    sum(open_item.open_credit) AS open_credit,
    sum(open_item.receivable) - sum(open_item.open_credit) AS net,
    c.name AS customer_name
FROM (
    SELECT
        i.customer_id,
        i.currency,
        CASE WHEN i.kind = 'invoice' THEN b.total - b.allocated ELSE 0 END AS receivable,
        CASE WHEN i.kind = 'credit_note' THEN b.total - b.allocated - b.refunded ELSE 0 END AS open_credit
    FROM billing.invoice_balance AS b
    INNER JOIN billing.invoice AS i ON b.customer_id = i.customer_id AND b.invoice_id = i.invoice_id
    WHERE b.total - b.allocated - b.refunded > 0
    UNION ALL
    SELECT
        p.customer_id,
        p.currency,
        0 AS receivable,
        b.amount - b.allocated - b.refunded - b.voided AS open_credit
    FROM billing.payment_balance AS b
    INNER JOIN billing.payment AS p ON b.customer_id = p.customer_id AND b.payment_id = p.payment_id
    WHERE b.amount - b.allocated - b.refunded - b.voided > 0
) AS open_item
INNER JOIN billing.customer AS c ON open_item.customer_id = c.customer_id
GROUP BY open_item.customer_id, open_item.currency, c.name;

COMMENT ON VIEW billing.customer_balance IS
'Per customer and currency: receivable (open invoice amounts), open_credit (unapplied payments and credit '
'notes), net = receivable - open_credit, and the customer''s name. Only customers with something open appear.';
