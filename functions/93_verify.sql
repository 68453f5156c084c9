-- Verifying the running totals against the history they summarize (README, Reliability).
-- billing.verify_balances recomputes every derived total from history and checks the money invariants; it only
-- reads, so run it as a nightly job (`pgbilling verify`, with billing.verify_chain) or before closing a period.
-- billing.rebuild_balances is for `pgbilling rollback --drop-data` only: a rollback that drops history (allocations,
-- refunds, write-offs, credit note lines, invoices) leaves the totals that summarized it in tables it keeps, so
-- those totals are recomputed from the history left.

CREATE OR REPLACE FUNCTION billing.verify_balances()
RETURNS TABLE (
    check_name text, table_name text, keys jsonb, stored numeric, computed numeric, detail text
)
LANGUAGE plpgsql
STABLE
AS $$
#variable_conflict use_column
DECLARE
    -- what was found, one element per finding; its detail is head, then the label of the document or payment
    -- named (if any), then tail
    v_check text [];
    v_table text [];
    v_keys jsonb [];
    v_stored numeric [];
    v_computed numeric [];
    v_customer bigint [];
    v_invoice bigint [];    -- the document to name (billing.document_label), or NULL
    v_payment bigint [];    -- the payment to name (billing.source_label), or NULL
    v_head text [];
    v_tail text [];
BEGIN
    -- One query over all customers, written so that Citus (README, Scale-out) runs each of its checks on the
    -- shards, every node over its own customers, and sends only the findings to the coordinator:
    -- * every join, grouping and window is by customer_id first;
    -- * no correlated subquery (NOT EXISTS is a LEFT JOIN ... IS NULL), no LATERAL subquery reading a table (the base
    --   of a tax line is a window);
    -- * no UNION on the nullable side of an outer join (each part of a total is summed on its own), nor a UNION over
    --   a subquery that other checks read too (the customers and currencies of the cash check are a UNION of tables);
    -- * a subquery read by several checks is NOT MATERIALIZED: Citus would gather a materialized one on the
    --   coordinator, every row of it;
    -- * no function that reads a distributed table, which Citus refuses inside a query on a shard: the labels of
    --   documents and payments (billing.document_label, billing.source_label) are added once the findings are here,
    --   by a query that reads no table, and that query sorts them.
    WITH credited_line AS (
        -- What issued credit notes took back of each invoice line, and how many did.
        SELECT
            c.customer_id,
            c.credited_invoice_id AS invoice_id,
            c.credited_line_no AS line_no,
            sum(c.amount) AS amount,
            count(*) AS notes
        FROM billing.credit_note_line AS c
        INNER JOIN billing.invoice AS cn ON c.customer_id = cn.customer_id AND c.credit_note_id = cn.invoice_id
        WHERE cn.status = 'issued'
        GROUP BY c.customer_id, c.credited_invoice_id, c.credited_line_no
    ),

    document AS NOT MATERIALIZED (
        SELECT
            i.customer_id,
            i.invoice_id,
            i.kind,
            i.currency,
            i.total,
            i.credited_invoice_id
        FROM billing.invoice AS i
        WHERE i.status = 'issued'
    ),

    -- What applies to a document: allocations to an invoice and from a credit note (reversals included, with their
    -- negative amounts), and write-offs of an invoice (reversals included): invoice_balance.allocated, their sum.
    allocated_to AS (
        SELECT
            a.customer_id,
            a.invoice_id,
            sum(a.amount) AS amount
        FROM billing.allocation AS a
        GROUP BY a.customer_id, a.invoice_id
    ),

    allocated_from_credit_note AS (
        SELECT
            a.customer_id,
            a.credit_note_id,
            sum(a.amount) AS amount
        FROM billing.allocation AS a
        WHERE a.credit_note_id IS NOT NULL
        GROUP BY a.customer_id, a.credit_note_id
    ),

    written_off AS (
        SELECT
            w.customer_id,
            w.invoice_id,
            sum(w.amount) AS amount
        FROM billing.write_off AS w
        GROUP BY w.customer_id, w.invoice_id
    ),

    -- (from billing.invoice, not from document: Citus runs the comparison of invoice_balance with invoice_history on
    -- the shards only if this sum reads a table)
    credited AS (
        SELECT
            i.customer_id,
            i.credited_invoice_id AS invoice_id,
            sum(i.total) AS amount
        FROM billing.invoice AS i
        WHERE i.status = 'issued' AND i.kind = 'credit_note'
        GROUP BY i.customer_id, i.credited_invoice_id
    ),

    refunded AS NOT MATERIALIZED (
        SELECT
            r.customer_id,
            r.payment_id,
            r.credit_note_id,
            sum(r.amount) AS amount
        FROM billing.refund_part AS r
        GROUP BY r.customer_id, r.payment_id, r.credit_note_id
    ),

    allocated_from_payment AS (
        SELECT
            a.customer_id,
            a.payment_id,
            sum(a.amount) AS amount
        FROM billing.allocation AS a
        WHERE a.payment_id IS NOT NULL
        GROUP BY a.customer_id, a.payment_id
    ),

    invoice_history AS NOT MATERIALIZED (
        SELECT
            d.customer_id,
            d.invoice_id,
            d.kind,
            d.currency,
            d.total,
            coalesce(c.amount, 0) AS credited,
            coalesce(a.amount, 0) + coalesce(n.amount, 0) + coalesce(w.amount, 0) AS allocated,
            coalesce(r.amount, 0) AS refunded
        FROM document AS d
        LEFT JOIN credited AS c ON d.customer_id = c.customer_id AND d.invoice_id = c.invoice_id
        LEFT JOIN allocated_to AS a ON d.customer_id = a.customer_id AND d.invoice_id = a.invoice_id
        LEFT JOIN allocated_from_credit_note AS n ON d.customer_id = n.customer_id AND d.invoice_id = n.credit_note_id
        LEFT JOIN written_off AS w ON d.customer_id = w.customer_id AND d.invoice_id = w.invoice_id
        LEFT JOIN refunded AS r ON d.customer_id = r.customer_id AND d.invoice_id = r.credit_note_id
    ),

    payment_history AS NOT MATERIALIZED (
        SELECT
            h.*,
            -- a cancellation voids what the payment has left once its allocations are reversed; nothing can be
            -- allocated from or refunded out of it afterwards, so that is what the history leaves
            CASE WHEN h.is_canceled THEN h.amount - h.allocated - h.refunded ELSE 0 END AS voided
        FROM (
            SELECT
                p.customer_id,
                p.payment_id,
                p.currency,
                p.amount,
                coalesce(a.amount, 0) AS allocated,
                coalesce(r.amount, 0) AS refunded,
                pc.payment_id IS NOT NULL AS is_canceled
            FROM billing.payment AS p
            LEFT JOIN allocated_from_payment AS a ON p.customer_id = a.customer_id AND p.payment_id = a.payment_id
            LEFT JOIN refunded AS r ON p.customer_id = r.customer_id AND p.payment_id = r.payment_id
            LEFT JOIN billing.payment_cancellation AS pc
                ON p.customer_id = pc.customer_id AND p.payment_id = pc.payment_id
        ) AS h
    ),

    -- The billed part of order lines (quantity) and charges (amount): issued invoices' lines, less what issued
    -- credit notes give back (quantity credits of product lines; every credit of a fee line of a charge).
    line_billed AS (
        SELECT
            p.customer_id,
            p.order_id,
            p.order_line_no,
            sum(l.quantity) AS quantity
        FROM billing.invoice_product_line AS p
        INNER JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
        INNER JOIN document AS d USING (customer_id, invoice_id)
        GROUP BY p.customer_id, p.order_id, p.order_line_no
    ),

    line_credited AS (
        SELECT
            p.customer_id,
            p.order_id,
            p.order_line_no,
            sum(c.quantity) AS quantity
        FROM billing.credit_note_line AS c
        INNER JOIN document AS d ON c.customer_id = d.customer_id AND c.credit_note_id = d.invoice_id
        INNER JOIN billing.invoice_product_line AS p
            ON c.customer_id = p.customer_id AND c.credited_invoice_id = p.invoice_id AND c.credited_line_no = p.line_no
        WHERE c.quantity IS NOT NULL
        GROUP BY p.customer_id, p.order_id, p.order_line_no
    ),

    charge_billed AS (
        SELECT
            f.customer_id,
            f.order_id,
            f.order_charge_no,
            sum(l.amount) AS amount
        FROM billing.invoice_fee_line AS f
        INNER JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
        INNER JOIN document AS d USING (customer_id, invoice_id)
        WHERE f.order_charge_no IS NOT NULL
        GROUP BY f.customer_id, f.order_id, f.order_charge_no
    ),

    charge_credited AS (
        SELECT
            f.customer_id,
            f.order_id,
            f.order_charge_no,
            sum(c.amount) AS amount
        FROM billing.credit_note_line AS c
        INNER JOIN document AS d ON c.customer_id = d.customer_id AND c.credit_note_id = d.invoice_id
        INNER JOIN billing.invoice_fee_line AS f
            ON c.customer_id = f.customer_id AND c.credited_invoice_id = f.invoice_id AND c.credited_line_no = f.line_no
        WHERE f.order_charge_no IS NOT NULL
        GROUP BY f.customer_id, f.order_id, f.order_charge_no
    ),

    -- The sum of a document's lines: an invoice's, or a credit note's.
    invoice_line_total AS (
        SELECT
            l.customer_id,
            l.invoice_id,
            sum(l.amount) AS amount
        FROM billing.invoice_line AS l
        GROUP BY l.customer_id, l.invoice_id
    ),

    credit_note_line_total AS (
        SELECT
            c.customer_id,
            c.credit_note_id,
            sum(c.amount) AS amount
        FROM billing.credit_note_line AS c
        GROUP BY c.customer_id, c.credit_note_id
    ),

    -- Each invoice line with what credit notes took back of it, and the base of a tax line: the lines before it
    -- that are not tax, what credit notes took back of them and the most credit notes that took back one of them.
    tax_base AS (
        SELECT
            l.customer_id,
            l.invoice_id,
            l.line_no,
            l.line_type,
            l.amount,
            c.amount AS credited,
            c.notes,
            sum(l.amount) FILTER (WHERE l.line_type <> 'tax') OVER before AS base_amount,
            coalesce(sum(c.amount) FILTER (WHERE l.line_type <> 'tax') OVER before, 0) AS base_credited,
            coalesce(max(c.notes) FILTER (WHERE l.line_type <> 'tax') OVER before, 0) AS base_notes
        FROM billing.invoice_line AS l
        LEFT JOIN credited_line AS c
            ON l.customer_id = c.customer_id AND l.invoice_id = c.invoice_id AND l.line_no = c.line_no
        WINDOW before AS (
            PARTITION BY l.customer_id, l.invoice_id ORDER BY l.line_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        )
    )

    SELECT
        array_agg(f.check_name),
        array_agg(f.table_name),
        array_agg(f.keys),
        array_agg(f.stored),
        array_agg(f.computed),
        array_agg(f.customer_id),
        array_agg(f.invoice_id),
        array_agg(f.payment_id),
        array_agg(f.head),
        array_agg(f.tail)
    INTO v_check, v_table, v_keys, v_stored, v_computed, v_customer, v_invoice, v_payment, v_head, v_tail
    FROM (
        -- a running total that differs from its history, one row per column
        SELECT
            'total_differs' AS check_name,
            'invoice_balance' AS table_name,
            jsonb_build_object('customer_id', b.customer_id, 'invoice_id', b.invoice_id) AS keys,
            v.stored,
            v.computed,
            b.customer_id,
            b.invoice_id,
            NULL::bigint AS payment_id,
            format('%s of ', v.column_name) AS head,
            '' AS tail
        FROM billing.invoice_balance AS b
        INNER JOIN invoice_history AS h ON b.customer_id = h.customer_id AND b.invoice_id = h.invoice_id
        CROSS JOIN LATERAL (
            VALUES
            ('total', b.total, h.total),
            ('credited', b.credited, h.credited),
            ('allocated', b.allocated, h.allocated),
            ('refunded', b.refunded, h.refunded)
        ) AS v (column_name, stored, computed)
        WHERE v.stored <> v.computed
        UNION ALL
        SELECT
            'total_differs',
            'payment_balance',
            jsonb_build_object('customer_id', b.customer_id, 'payment_id', b.payment_id),
            v.stored,
            v.computed,
            b.customer_id,
            NULL,
            b.payment_id,
            format('%s of ', v.column_name),
            ''
        FROM billing.payment_balance AS b
        INNER JOIN payment_history AS h ON b.customer_id = h.customer_id AND b.payment_id = h.payment_id
        CROSS JOIN LATERAL (
            VALUES
            ('amount', b.amount, h.amount),
            ('allocated', b.allocated, h.allocated),
            ('refunded', b.refunded, h.refunded),
            ('voided', b.voided, h.voided)
        ) AS v (column_name, stored, computed)
        WHERE v.stored <> v.computed
        UNION ALL
        SELECT
            'total_differs',
            'order_line',
            jsonb_build_object('customer_id', ol.customer_id, 'order_id', ol.order_id, 'line_no', ol.line_no),
            ol.billed_quantity,
            coalesce(b.quantity, 0) - coalesce(c.quantity, 0),
            ol.customer_id,
            NULL,
            NULL,
            format('billed_quantity of line %s of order %s of customer %s', ol.line_no, ol.order_id, ol.customer_id),
            ''
        FROM billing.order_line AS ol
        LEFT JOIN line_billed AS b
            ON ol.customer_id = b.customer_id AND ol.order_id = b.order_id AND ol.line_no = b.order_line_no
        LEFT JOIN line_credited AS c
            ON ol.customer_id = c.customer_id AND ol.order_id = c.order_id AND ol.line_no = c.order_line_no
        WHERE ol.billed_quantity <> coalesce(b.quantity, 0) - coalesce(c.quantity, 0)
        UNION ALL
        SELECT
            'total_differs',
            'order_charge',
            jsonb_build_object('customer_id', oc.customer_id, 'order_id', oc.order_id, 'charge_no', oc.charge_no),
            oc.billed_amount,
            coalesce(b.amount, 0) - coalesce(c.amount, 0),
            oc.customer_id,
            NULL,
            NULL,
            format('billed_amount of charge %s of order %s of customer %s', oc.charge_no, oc.order_id, oc.customer_id),
            ''
        FROM billing.order_charge AS oc
        LEFT JOIN charge_billed AS b
            ON oc.customer_id = b.customer_id AND oc.order_id = b.order_id AND oc.charge_no = b.order_charge_no
        LEFT JOIN charge_credited AS c
            ON oc.customer_id = c.customer_id AND oc.order_id = c.order_id AND oc.charge_no = c.order_charge_no
        WHERE oc.billed_amount <> coalesce(b.amount, 0) - coalesce(c.amount, 0)
        UNION ALL
        SELECT
            'total_differs',
            'invoice',
            jsonb_build_object('customer_id', d.customer_id, 'invoice_id', d.invoice_id),
            d.total,
            coalesce(t.amount, 0),
            d.customer_id,
            d.invoice_id,
            NULL,
            'total of ',
            ': the sum of its lines'
        FROM document AS d
        LEFT JOIN invoice_line_total AS il ON d.customer_id = il.customer_id AND d.invoice_id = il.invoice_id
        LEFT JOIN credit_note_line_total AS cl ON d.customer_id = cl.customer_id AND d.invoice_id = cl.credit_note_id
        -- each sum found is compared (should lines of both kinds name the document), none found is 0
        CROSS JOIN LATERAL (
            VALUES
            (il.amount, il.invoice_id IS NOT NULL OR cl.credit_note_id IS NULL),
            (cl.amount, cl.credit_note_id IS NOT NULL)
        ) AS t (amount, found)
        WHERE t.found AND d.total <> coalesce(t.amount, 0)
        -- a balance row without its document, or an issued document or payment without its balance row
        UNION ALL
        SELECT
            'balance_row_orphaned',
            'invoice_balance',
            jsonb_build_object('customer_id', b.customer_id, 'invoice_id', b.invoice_id),
            b.total,
            NULL,
            b.customer_id,
            b.invoice_id,
            NULL,
            '',
            ' is not an issued document'
        FROM billing.invoice_balance AS b
        LEFT JOIN document AS d ON b.customer_id = d.customer_id AND b.invoice_id = d.invoice_id
        WHERE d.invoice_id IS NULL
        UNION ALL
        SELECT
            'balance_row_orphaned',
            'payment_balance',
            jsonb_build_object('customer_id', b.customer_id, 'payment_id', b.payment_id),
            b.amount,
            NULL,
            b.customer_id,
            NULL,
            NULL,
            format('payment id %s of customer %s does not exist', b.payment_id, b.customer_id),
            ''
        FROM billing.payment_balance AS b
        LEFT JOIN billing.payment AS p ON b.customer_id = p.customer_id AND b.payment_id = p.payment_id
        WHERE p.payment_id IS NULL
        UNION ALL
        SELECT
            'balance_row_missing',
            'invoice_balance',
            jsonb_build_object('customer_id', h.customer_id, 'invoice_id', h.invoice_id),
            NULL,
            h.total,
            h.customer_id,
            h.invoice_id,
            NULL,
            '',
            ' has no balance row'
        FROM invoice_history AS h
        LEFT JOIN billing.invoice_balance AS b ON h.customer_id = b.customer_id AND h.invoice_id = b.invoice_id
        WHERE b.invoice_id IS NULL
        UNION ALL
        SELECT
            'balance_row_missing',
            'payment_balance',
            jsonb_build_object('customer_id', h.customer_id, 'payment_id', h.payment_id),
            NULL,
            h.amount,
            h.customer_id,
            NULL,
            h.payment_id,
            '',
            ' has no balance row'
        FROM payment_history AS h
        LEFT JOIN billing.payment_balance AS b ON h.customer_id = b.customer_id AND h.payment_id = b.payment_id
        WHERE b.payment_id IS NULL
        -- invariants, on what the history gives: stored is the value found, computed the limit the rule sets
        UNION ALL
        SELECT
            'canceled_invoice_open',
            'invoice_cancellation',
            jsonb_build_object('customer_id', h.customer_id, 'invoice_id', h.invoice_id),
            h.total - h.allocated,
            0,
            h.customer_id,
            h.invoice_id,
            NULL,
            '',
            format(' is canceled but has %s open (its void credit note settles it)', h.total - h.allocated)
        FROM billing.invoice_cancellation AS c
        INNER JOIN invoice_history AS h ON c.customer_id = h.customer_id AND c.invoice_id = h.invoice_id
        WHERE h.total - h.allocated <> 0
        UNION ALL
        SELECT
            'negative_open',
            'invoice_balance',
            jsonb_build_object('customer_id', h.customer_id, 'invoice_id', h.invoice_id),
            h.total - h.allocated - h.refunded,
            0,
            h.customer_id,
            h.invoice_id,
            NULL,
            '',
            format(' has %s %s', h.total - h.allocated - h.refunded,
                CASE h.kind WHEN 'invoice' THEN 'open' ELSE 'of open credit' END)
        FROM invoice_history AS h
        WHERE h.total - h.allocated - h.refunded < 0
        UNION ALL
        SELECT
            'negative_open',
            'payment_balance',
            jsonb_build_object('customer_id', h.customer_id, 'payment_id', h.payment_id),
            h.amount - h.allocated - h.refunded - h.voided,
            0,
            h.customer_id,
            NULL,
            h.payment_id,
            '',
            format(' has %s of open credit', h.amount - h.allocated - h.refunded - h.voided)
        FROM payment_history AS h
        WHERE h.amount - h.allocated - h.refunded - h.voided < 0
        UNION ALL
        SELECT
            'open_credit_exceeds_cash',
            'customer',
            jsonb_build_object('customer_id', m.customer_id, 'currency', m.currency),
            m.open_credit,
            m.net_cash,
            m.customer_id,
            NULL,
            NULL,
            format('customer %s has %s %s of open credit but %s %s net cash received (payments less refunds and '
                'voided amounts): credit notes'' credit never becomes cash', m.customer_id, m.open_credit, m.currency,
                m.net_cash, m.currency),
            ''
        FROM (
            SELECT
                k.customer_id,
                k.currency,
                coalesce(p.open_credit, 0) + coalesce(n.open_credit, 0) AS open_credit,
                coalesce(p.cash, 0) - coalesce(r.amount, 0) AS net_cash
            -- every customer and currency of a payment, an issued credit note or a refund
            FROM (
                SELECT
                    y.customer_id,
                    y.currency
                FROM billing.payment AS y
                UNION
                SELECT
                    y.customer_id,
                    y.currency
                FROM billing.invoice AS y
                WHERE y.status = 'issued' AND y.kind = 'credit_note'
                UNION
                SELECT
                    y.customer_id,
                    y.currency
                FROM billing.refund AS y
            ) AS k
            LEFT JOIN (
                SELECT
                    h.customer_id,
                    h.currency,
                    sum(h.amount - h.allocated - h.refunded - h.voided) AS open_credit,
                    sum(h.amount - h.voided) AS cash
                FROM payment_history AS h
                GROUP BY h.customer_id, h.currency
            ) AS p ON k.customer_id = p.customer_id AND k.currency = p.currency
            LEFT JOIN (
                SELECT
                    h.customer_id,
                    h.currency,
                    sum(h.total - h.allocated - h.refunded) AS open_credit
                FROM invoice_history AS h
                WHERE h.kind = 'credit_note'
                GROUP BY h.customer_id, h.currency
            ) AS n ON k.customer_id = n.customer_id AND k.currency = n.currency
            LEFT JOIN (
                SELECT
                    y.customer_id,
                    y.currency,
                    sum(y.amount) AS amount
                FROM billing.refund AS y
                GROUP BY y.customer_id, y.currency
            ) AS r ON k.customer_id = r.customer_id AND k.currency = r.currency
        ) AS m
        WHERE m.open_credit > m.net_cash
        UNION ALL
        SELECT
            'tax_rate',
            'invoice_tax_line',
            jsonb_build_object('customer_id', t.customer_id, 'invoice_id', t.invoice_id, 'line_no', t.line_no),
            l.amount,
            billing.round_money(t.taxable_amount * t.rate, d.currency),
            t.customer_id,
            t.invoice_id,
            NULL,
            format('tax line %s of ', t.line_no),
            format(': %s x %s', t.taxable_amount, t.rate)
        FROM billing.invoice_tax_line AS t
        INNER JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
        INNER JOIN document AS d USING (customer_id, invoice_id)
        WHERE l.amount <> billing.round_money(t.taxable_amount * t.rate, d.currency)
        UNION ALL
        -- What credit notes took back of a tax line is its share of what they took back of its base (the other
        -- lines before it), within a minor unit per credit note (each share is rounded).
        SELECT
            'tax_credit_share',
            'credit_note_line',
            jsonb_build_object('customer_id', t.customer_id, 'invoice_id', t.invoice_id, 'line_no', t.line_no),
            coalesce(t.credited, 0),
            t.amount * t.base_credited / t.base_amount,
            t.customer_id,
            t.invoice_id,
            NULL,
            format('tax line %s of ', t.line_no),
            format(' (%s) on a base of %s, of which credit notes took back %s', t.amount, t.base_amount,
                t.base_credited)
        FROM tax_base AS t
        INNER JOIN document AS d ON t.customer_id = d.customer_id AND t.invoice_id = d.invoice_id
        WHERE
            t.line_type = 'tax' AND t.base_amount <> 0
            AND abs(coalesce(t.credited, 0) - t.amount * t.base_credited / t.base_amount)
            > greatest(coalesce(t.notes, 0), t.base_notes, 1) * power(10::numeric, -billing.minor_units(d.currency))
    ) AS f;

    RETURN QUERY SELECT
        f.check_name,
        f.table_name,
        f.keys,
        f.stored,
        f.computed,
        f.detail
    FROM (
        SELECT
            u.check_name,
            u.table_name,
            u.keys,
            u.stored,
            u.computed,
            u.head || CASE
                WHEN u.invoice_id IS NOT NULL THEN billing.document_label(u.customer_id, u.invoice_id)
                WHEN u.payment_id IS NOT NULL THEN billing.source_label(u.customer_id, u.payment_id, NULL)
                ELSE ''
            END || u.tail AS detail
        FROM unnest(v_check, v_table, v_keys, v_stored, v_computed, v_customer, v_invoice, v_payment, v_head, v_tail)
            AS u (check_name, table_name, keys, stored, computed, customer_id, invoice_id, payment_id, head, tail)
    ) AS f
    ORDER BY f.check_name, f.table_name, f.keys, f.detail;
END
$$;

COMMENT ON FUNCTION billing.verify_balances() IS
'Recomputes every running total from the history it summarizes and checks the money invariants; one row per '
'finding, none when all agree. check_name: total_differs (a column of invoice_balance, payment_balance, '
'order_line.billed_quantity, order_charge.billed_amount or invoice.total differs from its history; detail names '
'the column), balance_row_missing, balance_row_orphaned, canceled_invoice_open, negative_open, '
'open_credit_exceeds_cash, tax_rate (a tax line is not round(taxable x rate)), tax_credit_share (what credit notes '
'took back of a tax line is not its share of what they took back of its base, within a minor unit per credit '
'note). keys: the row''s key; stored: the value held (for an invariant, the value '
'found), computed: what the history gives (for an invariant, the limit the rule sets). Reads every history row: '
'run it as a job (pgbilling verify).';

CREATE OR REPLACE FUNCTION billing.rebuild_balances() RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_changed integer := 0;
    v_rows integer;
BEGIN
    -- Only the totals whose history is gone are recomputed, from the history left; a statement is planned when it
    -- first runs, so each branch reads only tables that exist at its level of rollback. Migrations are applied in
    -- order, so the history tables go in this order: refunds and write-offs (0010), allocations (0008), payments
    -- (0007), credit note lines (0005), invoices (0004). The triggers that refuse writes to running totals are off
    -- for these statements only (ALTER TABLE is transactional; writers wait until commit).
    IF to_regclass('billing.payment_balance') IS NOT NULL AND to_regclass('billing.refund_part') IS NULL THEN
        ALTER TABLE billing.payment_balance DISABLE TRIGGER USER;
        IF to_regclass('billing.allocation') IS NULL THEN
            UPDATE billing.payment_balance AS b SET
                allocated = 0,
                refunded = 0,
                voided = CASE WHEN c.payment_id IS NULL THEN 0 ELSE b.amount END
            FROM billing.payment_balance AS o
            LEFT JOIN billing.payment_cancellation AS c ON o.customer_id = c.customer_id AND o.payment_id = c.payment_id
            WHERE
                b.customer_id = o.customer_id AND b.payment_id = o.payment_id
                AND (b.allocated, b.refunded, b.voided)
                IS DISTINCT FROM (0, 0, CASE WHEN c.payment_id IS NULL THEN 0 ELSE b.amount END);
        ELSE
            UPDATE billing.payment_balance AS b SET
                refunded = 0,
                voided = CASE WHEN c.payment_id IS NULL THEN 0 ELSE b.amount - b.allocated END
            FROM billing.payment_balance AS o
            LEFT JOIN billing.payment_cancellation AS c ON o.customer_id = c.customer_id AND o.payment_id = c.payment_id
            WHERE
                b.customer_id = o.customer_id AND b.payment_id = o.payment_id
                AND (b.refunded, b.voided)
                IS DISTINCT FROM (0, CASE WHEN c.payment_id IS NULL THEN 0 ELSE b.amount - b.allocated END);
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_changed := v_changed + v_rows;
            ALTER TABLE billing.invoice_balance DISABLE TRIGGER USER;
            UPDATE billing.invoice_balance AS b SET
                allocated = coalesce(s.amount, 0),
                refunded = 0
            FROM billing.invoice_balance AS o
            LEFT JOIN (
                SELECT
                    x.customer_id,
                    x.invoice_id,
                    sum(x.amount) AS amount
                FROM (
                    SELECT
                        a.customer_id,
                        a.invoice_id,
                        a.amount
                    FROM billing.allocation AS a
                    UNION ALL
                    SELECT
                        a.customer_id,
                        a.credit_note_id,
                        a.amount
                    FROM billing.allocation AS a
                    WHERE a.credit_note_id IS NOT NULL
                ) AS x
                GROUP BY x.customer_id, x.invoice_id
            ) AS s ON o.customer_id = s.customer_id AND o.invoice_id = s.invoice_id
            WHERE
                b.customer_id = o.customer_id AND b.invoice_id = o.invoice_id
                AND (b.allocated, b.refunded) IS DISTINCT FROM (coalesce(s.amount, 0), 0);
            ALTER TABLE billing.invoice_balance ENABLE TRIGGER USER;
        END IF;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_changed := v_changed + v_rows;
        ALTER TABLE billing.payment_balance ENABLE TRIGGER USER;
    END IF;
    IF to_regclass('billing.order_line') IS NOT NULL AND to_regclass('billing.credit_note_line') IS NULL THEN
        ALTER TABLE billing.order_line DISABLE TRIGGER USER;
        ALTER TABLE billing.order_charge DISABLE TRIGGER USER;
        IF to_regclass('billing.invoice') IS NULL THEN
            UPDATE billing.order_line AS l SET billed_quantity = 0 WHERE l.billed_quantity <> 0;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_changed := v_changed + v_rows;
            UPDATE billing.order_charge AS c SET billed_amount = 0 WHERE c.billed_amount <> 0;
        ELSE
            UPDATE billing.order_line AS l SET billed_quantity = coalesce(s.billed, 0)
            FROM billing.order_line AS o
            LEFT JOIN (
                SELECT
                    p.customer_id,
                    p.order_id,
                    p.order_line_no,
                    sum(il.quantity) AS billed
                FROM billing.invoice_product_line AS p
                INNER JOIN billing.invoice_line AS il USING (customer_id, invoice_id, line_no)
                INNER JOIN billing.invoice AS i USING (customer_id, invoice_id)
                WHERE i.status = 'issued'
                GROUP BY p.customer_id, p.order_id, p.order_line_no
            ) AS s ON o.customer_id = s.customer_id AND o.order_id = s.order_id AND o.line_no = s.order_line_no
            WHERE
                l.customer_id = o.customer_id AND l.order_id = o.order_id AND l.line_no = o.line_no
                AND l.billed_quantity <> coalesce(s.billed, 0);
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_changed := v_changed + v_rows;
            UPDATE billing.order_charge AS c SET billed_amount = coalesce(s.billed, 0)
            FROM billing.order_charge AS o
            LEFT JOIN (
                SELECT
                    f.customer_id,
                    f.order_id,
                    f.order_charge_no,
                    sum(il.amount) AS billed
                FROM billing.invoice_fee_line AS f
                INNER JOIN billing.invoice_line AS il USING (customer_id, invoice_id, line_no)
                INNER JOIN billing.invoice AS i USING (customer_id, invoice_id)
                WHERE i.status = 'issued' AND f.order_charge_no IS NOT NULL
                GROUP BY f.customer_id, f.order_id, f.order_charge_no
            ) AS s ON o.customer_id = s.customer_id AND o.order_id = s.order_id AND o.charge_no = s.order_charge_no
            WHERE
                c.customer_id = o.customer_id AND c.order_id = o.order_id AND c.charge_no = o.charge_no
                AND c.billed_amount <> coalesce(s.billed, 0);
        END IF;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_changed := v_changed + v_rows;
        ALTER TABLE billing.order_line ENABLE TRIGGER USER;
        ALTER TABLE billing.order_charge ENABLE TRIGGER USER;
    END IF;
    RETURN v_changed;
END
$$;

COMMENT ON FUNCTION billing.rebuild_balances() IS
'For pgbilling rollback --drop-data, which calls it after rolling back: recomputes, from the history left, the '
'running totals whose history the rollback dropped (payment_balance and invoice_balance without refunds, write-offs '
'or allocations; order_line.billed_quantity and order_charge.billed_amount without credit note lines or invoices); '
'returns the number of rows changed. With every history table there, it changes nothing.';
