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
BEGIN
    RETURN QUERY WITH credited_line AS (
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

    document AS (
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
    -- negative amounts), and write-offs of an invoice (reversals included): invoice_balance.allocated.
    applied AS (
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
            UNION ALL
            SELECT
                w.customer_id,
                w.invoice_id,
                w.amount
            FROM billing.write_off AS w
        ) AS x
        GROUP BY x.customer_id, x.invoice_id
    ),

    credited AS (
        SELECT
            d.customer_id,
            d.credited_invoice_id AS invoice_id,
            sum(d.total) AS amount
        FROM document AS d
        WHERE d.kind = 'credit_note'
        GROUP BY d.customer_id, d.credited_invoice_id
    ),

    refunded AS (
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

    invoice_history AS (
        SELECT
            d.customer_id,
            d.invoice_id,
            d.kind,
            d.currency,
            d.total,
            coalesce(c.amount, 0) AS credited,
            coalesce(a.amount, 0) AS allocated,
            coalesce(r.amount, 0) AS refunded
        FROM document AS d
        LEFT JOIN credited AS c ON d.customer_id = c.customer_id AND d.invoice_id = c.invoice_id
        LEFT JOIN applied AS a ON d.customer_id = a.customer_id AND d.invoice_id = a.invoice_id
        LEFT JOIN refunded AS r ON d.customer_id = r.customer_id AND d.invoice_id = r.credit_note_id
    ),

    payment_history AS (
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
    billed AS (
        SELECT
            x.customer_id,
            x.order_id,
            x.item_no,
            x.is_charge,
            sum(x.delta) AS billed
        FROM (
            SELECT
                p.customer_id,
                p.order_id,
                p.order_line_no AS item_no,
                FALSE AS is_charge,
                l.quantity AS delta
            FROM billing.invoice_product_line AS p
            INNER JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
            INNER JOIN document AS d USING (customer_id, invoice_id)
            UNION ALL
            SELECT
                p.customer_id,
                p.order_id,
                p.order_line_no,
                FALSE,
                -c.quantity
            FROM billing.credit_note_line AS c
            INNER JOIN document AS d ON c.customer_id = d.customer_id AND c.credit_note_id = d.invoice_id
            INNER JOIN billing.invoice_product_line AS p
                ON c.customer_id = p.customer_id AND c.credited_invoice_id = p.invoice_id AND c.credited_line_no = p.line_no
            WHERE c.quantity IS NOT NULL
            UNION ALL
            SELECT
                f.customer_id,
                f.order_id,
                f.order_charge_no,
                TRUE,
                l.amount
            FROM billing.invoice_fee_line AS f
            INNER JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
            INNER JOIN document AS d USING (customer_id, invoice_id)
            WHERE f.order_charge_no IS NOT NULL
            UNION ALL
            SELECT
                f.customer_id,
                f.order_id,
                f.order_charge_no,
                TRUE,
                -c.amount
            FROM billing.credit_note_line AS c
            INNER JOIN document AS d ON c.customer_id = d.customer_id AND c.credit_note_id = d.invoice_id
            INNER JOIN billing.invoice_fee_line AS f
                ON c.customer_id = f.customer_id AND c.credited_invoice_id = f.invoice_id AND c.credited_line_no = f.line_no
            WHERE f.order_charge_no IS NOT NULL
        ) AS x
        GROUP BY x.customer_id, x.order_id, x.item_no, x.is_charge
    ),

    line_total AS (
        SELECT
            l.customer_id,
            l.invoice_id,
            sum(l.amount) AS amount
        FROM billing.invoice_line AS l
        GROUP BY l.customer_id, l.invoice_id
        UNION ALL
        SELECT
            c.customer_id,
            c.credit_note_id,
            sum(c.amount)
        FROM billing.credit_note_line AS c
        GROUP BY c.customer_id, c.credit_note_id
    ),

    finding AS (
        -- a running total that differs from its history, one row per column
        SELECT
            'total_differs' AS check_name,
            'invoice_balance' AS table_name,
            jsonb_build_object('customer_id', b.customer_id, 'invoice_id', b.invoice_id) AS keys,
            v.stored,
            v.computed,
            format('%s of %s', v.column_name, billing.document_label(b.customer_id, b.invoice_id)) AS detail
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
            format('%s of %s', v.column_name, billing.source_label(b.customer_id, b.payment_id, NULL))
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
            coalesce(x.billed, 0),
            format('billed_quantity of line %s of order %s of customer %s', ol.line_no, ol.order_id, ol.customer_id)
        FROM billing.order_line AS ol
        LEFT JOIN billed AS x
            ON ol.customer_id = x.customer_id AND ol.order_id = x.order_id AND ol.line_no = x.item_no AND NOT x.is_charge
        WHERE ol.billed_quantity <> coalesce(x.billed, 0)
        UNION ALL
        SELECT
            'total_differs',
            'order_charge',
            jsonb_build_object('customer_id', oc.customer_id, 'order_id', oc.order_id, 'charge_no', oc.charge_no),
            oc.billed_amount,
            coalesce(x.billed, 0),
            format('billed_amount of charge %s of order %s of customer %s', oc.charge_no, oc.order_id, oc.customer_id)
        FROM billing.order_charge AS oc
        LEFT JOIN billed AS x
            ON oc.customer_id = x.customer_id AND oc.order_id = x.order_id AND oc.charge_no = x.item_no AND x.is_charge
        WHERE oc.billed_amount <> coalesce(x.billed, 0)
        UNION ALL
        SELECT
            'total_differs',
            'invoice',
            jsonb_build_object('customer_id', d.customer_id, 'invoice_id', d.invoice_id),
            d.total,
            coalesce(t.amount, 0),
            format('total of %s: the sum of its lines', billing.document_label(d.customer_id, d.invoice_id))
        FROM document AS d
        LEFT JOIN line_total AS t ON d.customer_id = t.customer_id AND d.invoice_id = t.invoice_id
        WHERE d.total <> coalesce(t.amount, 0)
        -- a balance row without its document, or an issued document or payment without its balance row
        UNION ALL
        SELECT
            'balance_row_orphaned',
            'invoice_balance',
            jsonb_build_object('customer_id', b.customer_id, 'invoice_id', b.invoice_id),
            b.total,
            NULL,
            format('%s is not an issued document', billing.document_label(b.customer_id, b.invoice_id))
        FROM billing.invoice_balance AS b
        WHERE NOT EXISTS (
            SELECT FROM document AS d WHERE b.customer_id = d.customer_id AND b.invoice_id = d.invoice_id
        )
        UNION ALL
        SELECT
            'balance_row_orphaned',
            'payment_balance',
            jsonb_build_object('customer_id', b.customer_id, 'payment_id', b.payment_id),
            b.amount,
            NULL,
            format('payment id %s of customer %s does not exist', b.payment_id, b.customer_id)
        FROM billing.payment_balance AS b
        WHERE NOT EXISTS (
            SELECT FROM billing.payment AS p WHERE b.customer_id = p.customer_id AND b.payment_id = p.payment_id
        )
        UNION ALL
        SELECT
            'balance_row_missing',
            'invoice_balance',
            jsonb_build_object('customer_id', h.customer_id, 'invoice_id', h.invoice_id),
            NULL,
            h.total,
            format('%s has no balance row', billing.document_label(h.customer_id, h.invoice_id))
        FROM invoice_history AS h
        WHERE NOT EXISTS (
            SELECT FROM billing.invoice_balance AS b WHERE h.customer_id = b.customer_id AND h.invoice_id = b.invoice_id
        )
        UNION ALL
        SELECT
            'balance_row_missing',
            'payment_balance',
            jsonb_build_object('customer_id', h.customer_id, 'payment_id', h.payment_id),
            NULL,
            h.amount,
            format('%s has no balance row', billing.source_label(h.customer_id, h.payment_id, NULL))
        FROM payment_history AS h
        WHERE NOT EXISTS (
            SELECT FROM billing.payment_balance AS b WHERE h.customer_id = b.customer_id AND h.payment_id = b.payment_id
        )
        -- invariants, on what the history gives: stored is the value found, computed the limit the rule sets
        UNION ALL
        SELECT
            'canceled_invoice_open',
            'invoice_cancellation',
            jsonb_build_object('customer_id', h.customer_id, 'invoice_id', h.invoice_id),
            h.total - h.allocated,
            0,
            format('%s is canceled but has %s open (its void credit note settles it)',
                billing.document_label(h.customer_id, h.invoice_id), h.total - h.allocated)
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
            format('%s has %s %s', billing.document_label(h.customer_id, h.invoice_id),
                h.total - h.allocated - h.refunded, CASE h.kind WHEN 'invoice' THEN 'open' ELSE 'of open credit' END)
        FROM invoice_history AS h
        WHERE h.total - h.allocated - h.refunded < 0
        UNION ALL
        SELECT
            'negative_open',
            'payment_balance',
            jsonb_build_object('customer_id', h.customer_id, 'payment_id', h.payment_id),
            h.amount - h.allocated - h.refunded - h.voided,
            0,
            format('%s has %s of open credit', billing.source_label(h.customer_id, h.payment_id, NULL),
                h.amount - h.allocated - h.refunded - h.voided)
        FROM payment_history AS h
        WHERE h.amount - h.allocated - h.refunded - h.voided < 0
        UNION ALL
        SELECT
            'open_credit_exceeds_cash',
            'customer',
            jsonb_build_object('customer_id', m.customer_id, 'currency', m.currency),
            m.open_credit,
            m.net_cash,
            format('customer %s has %s %s of open credit but %s %s net cash received (payments less refunds and '
                'voided amounts): credit notes'' credit never becomes cash', m.customer_id, m.open_credit, m.currency,
                m.net_cash, m.currency)
        FROM (
            SELECT
                x.customer_id,
                x.currency,
                sum(x.open_credit) AS open_credit,
                sum(x.cash) AS net_cash
            FROM (
                SELECT
                    h.customer_id,
                    h.currency,
                    h.amount - h.allocated - h.refunded - h.voided AS open_credit,
                    h.amount - h.voided AS cash
                FROM payment_history AS h
                UNION ALL
                SELECT
                    h.customer_id,
                    h.currency,
                    h.total - h.allocated - h.refunded,
                    0
                FROM invoice_history AS h
                WHERE h.kind = 'credit_note'
                UNION ALL
                SELECT
                    r.customer_id,
                    r.currency,
                    0,
                    -r.amount
                FROM billing.refund AS r
            ) AS x
            GROUP BY x.customer_id, x.currency
        ) AS m
        WHERE m.open_credit > m.net_cash
        UNION ALL
        SELECT
            'tax_rate',
            'invoice_tax_line',
            jsonb_build_object('customer_id', t.customer_id, 'invoice_id', t.invoice_id, 'line_no', t.line_no),
            l.amount,
            billing.round_money(t.taxable_amount * t.rate, d.currency),
            format('tax line %s of %s: %s x %s', t.line_no, billing.document_label(t.customer_id, t.invoice_id),
                t.taxable_amount, t.rate)
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
            coalesce(tc.amount, 0),
            t.amount * base.credited / base.amount,
            format('tax line %s of %s (%s) on a base of %s, of which credit notes took back %s',
                t.line_no, billing.document_label(t.customer_id, t.invoice_id), t.amount, base.amount, base.credited)
        FROM billing.invoice_line AS t
        INNER JOIN document AS d ON t.customer_id = d.customer_id AND t.invoice_id = d.invoice_id
        LEFT JOIN credited_line AS tc
            ON t.customer_id = tc.customer_id AND t.invoice_id = tc.invoice_id AND t.line_no = tc.line_no
        CROSS JOIN LATERAL (
            SELECT
                sum(l.amount) AS amount,
                coalesce(sum(c.amount), 0) AS credited,
                coalesce(max(c.notes), 0) AS notes
            FROM billing.invoice_line AS l
            LEFT JOIN credited_line AS c
                ON l.customer_id = c.customer_id AND l.invoice_id = c.invoice_id AND l.line_no = c.line_no
            WHERE
                l.customer_id = t.customer_id AND l.invoice_id = t.invoice_id AND l.line_no < t.line_no
                AND l.line_type <> 'tax'
        ) AS base
        WHERE
            t.line_type = 'tax' AND base.amount <> 0
            AND abs(coalesce(tc.amount, 0) - t.amount * base.credited / base.amount)
            > greatest(coalesce(tc.notes, 0), base.notes, 1) * power(10::numeric, -billing.minor_units(d.currency))
    )

    SELECT
        f.check_name,
        f.table_name,
        f.keys,
        f.stored,
        f.computed,
        f.detail
    FROM finding AS f
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
