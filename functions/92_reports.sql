-- Reports for accountants: open items, aging, statements, tax, revenue, unapplied cash.
-- Point-in-time reports go by when pgbilling recorded each event (issued_at, recorded_at, allocated_at,
-- written_off_at), which triggers stamp with the clock: history is append-only, so a report as of a past moment
-- takes today's open amounts and adds back what changed them since, reading open items and recent history only.

CREATE OR REPLACE FUNCTION billing.check_period(p_from date, p_to date) RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF billing.require(p_from, 'p_from') > billing.require(p_to, 'p_to') THEN
        PERFORM billing.fail('22023', format('the period from %s to %s ends before it starts', p_from, p_to),
            NULL, 'Give p_from <= p_to; both days are included.');
    END IF;
    IF p_from < '0001-01-01' OR p_to > '9999-12-30' THEN
        PERFORM billing.fail('22023', format('the period from %s to %s is not within the years 1 to 9999', p_from, p_to));
    END IF;
END
$$;

COMMENT ON FUNCTION billing.check_period(date, date) IS
'Checks a report period: 22004 when a bound is NULL, 22023 when p_from is after p_to or a bound is outside the '
'years 1 to 9999 (infinity included). Both days are included, '
'and a day runs from midnight to midnight in the session''s TimeZone.';

CREATE OR REPLACE FUNCTION billing.open_items(p_as_of timestamptz DEFAULT clock_timestamp())
RETURNS TABLE (
    customer_id bigint,
    currency char(3),
    kind text,
    document_id bigint,
    document_no text,
    recorded_at timestamptz,
    due_date date,
    amount numeric,
    open_amount numeric
)
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    PERFORM billing.require(p_as_of, 'p_as_of');
    RETURN QUERY
    WITH later AS (
        -- What changed open amounts after p_as_of; each is added back to today's open amount.
        -- is_payment: the document is a payment, else an invoice or credit note (table invoice).
        SELECT a.customer_id, FALSE AS is_payment, a.invoice_id AS document_id, a.amount
        FROM billing.allocation AS a WHERE a.allocated_at > p_as_of
        UNION ALL
        SELECT a.customer_id, a.payment_id IS NOT NULL, coalesce(a.payment_id, a.credit_note_id), a.amount
        FROM billing.allocation AS a WHERE a.allocated_at > p_as_of
        UNION ALL
        SELECT w.customer_id, FALSE, w.invoice_id, w.amount
        FROM billing.write_off AS w WHERE w.written_off_at > p_as_of
        UNION ALL
        SELECT rp.customer_id, rp.payment_id IS NOT NULL, coalesce(rp.payment_id, rp.credit_note_id), rp.amount
        FROM billing.refund AS r
        JOIN billing.refund_part AS rp ON rp.customer_id = r.customer_id AND rp.refund_id = r.refund_id
        WHERE r.recorded_at > p_as_of
        UNION ALL
        SELECT c.customer_id, TRUE, c.payment_id, b.voided
        FROM billing.payment_cancellation AS c
        JOIN billing.payment_balance AS b ON b.customer_id = c.customer_id AND b.payment_id = c.payment_id
        WHERE c.recorded_at > p_as_of
    ), later_sum AS (
        SELECT l.customer_id, l.is_payment, l.document_id, sum(l.amount) AS amount
        FROM later AS l
        GROUP BY l.customer_id, l.is_payment, l.document_id
    )
    SELECT d.customer_id, d.currency, d.kind, d.document_id, d.document_no, d.recorded_at, d.due_date,
        d.sign * d.amount, d.sign * d.open_amount
    FROM (
        SELECT i.customer_id, i.currency, i.kind, i.invoice_id AS document_id, i.invoice_no AS document_no,
            i.issued_at AS recorded_at, coalesce(i.due_date, i.issued_at::date) AS due_date,
            CASE WHEN i.kind = 'invoice' THEN 1 ELSE -1 END AS sign, b.total AS amount,
            b.total - b.allocated - b.refunded + coalesce(ls.amount, 0) AS open_amount
        FROM (
            -- The balance rows open today (through their partial index) and the others changed since p_as_of
            -- (through the primary key): never a scan of every balance row.
            SELECT o.customer_id, o.invoice_id, o.total, o.allocated, o.refunded
            FROM billing.invoice_balance AS o WHERE o.total - o.allocated - o.refunded > 0
            UNION ALL
            SELECT o.customer_id, o.invoice_id, o.total, o.allocated, o.refunded
            FROM later_sum AS ls
            JOIN billing.invoice_balance AS o ON o.customer_id = ls.customer_id AND o.invoice_id = ls.document_id
            WHERE NOT ls.is_payment AND NOT o.total - o.allocated - o.refunded > 0
        ) AS b
        JOIN billing.invoice AS i ON i.customer_id = b.customer_id AND i.invoice_id = b.invoice_id
        LEFT JOIN later_sum AS ls
            ON ls.customer_id = b.customer_id AND ls.document_id = b.invoice_id AND NOT ls.is_payment
        WHERE i.issued_at <= p_as_of
        UNION ALL
        SELECT p.customer_id, p.currency, 'payment', p.payment_id, p.payment_no, p.recorded_at, NULL, -1, b.amount,
            b.amount - b.allocated - b.refunded - b.voided + coalesce(ls.amount, 0)
        FROM (
            SELECT o.customer_id, o.payment_id, o.amount, o.allocated, o.refunded, o.voided
            FROM billing.payment_balance AS o WHERE o.amount - o.allocated - o.refunded - o.voided > 0
            UNION ALL
            SELECT o.customer_id, o.payment_id, o.amount, o.allocated, o.refunded, o.voided
            FROM later_sum AS ls
            JOIN billing.payment_balance AS o ON o.customer_id = ls.customer_id AND o.payment_id = ls.document_id
            WHERE ls.is_payment AND NOT o.amount - o.allocated - o.refunded - o.voided > 0
        ) AS b
        JOIN billing.payment AS p ON p.customer_id = b.customer_id AND p.payment_id = b.payment_id
        LEFT JOIN later_sum AS ls ON ls.customer_id = b.customer_id AND ls.document_id = b.payment_id AND ls.is_payment
        WHERE p.recorded_at <= p_as_of
    ) AS d
    WHERE d.open_amount <> 0
    ORDER BY d.customer_id, d.currency, d.recorded_at, d.kind, d.document_id;
END
$$;

COMMENT ON FUNCTION billing.open_items(timestamptz) IS
'Every open item as of p_as_of (default: the moment of the call): invoices with an amount not yet paid, credited '
'or written off, and open credit (credit notes and payments not yet applied or refunded). Signed: receivable '
'positive, credit negative, so a customer''s items sum to what they owe. amount is the document''s total, '
'open_amount what was open at p_as_of; due_date is the invoice''s (its issue date when it has none). It takes '
'today''s open items and adds back what changed them after p_as_of, by the time pgbilling recorded each change '
'(once the rows it changed were locked), so a past moment gives what the report gave then, give or take '
'transactions in flight at that moment; it reads open items and later history only.';

CREATE OR REPLACE FUNCTION billing.ar_aging(p_as_of timestamptz DEFAULT clock_timestamp())
RETURNS TABLE (
    customer_id bigint,
    customer_name text,
    currency char(3),
    not_due numeric,
    days_1_30 numeric,
    days_31_60 numeric,
    days_61_90 numeric,
    days_over_90 numeric,
    receivable numeric,
    open_credit numeric,
    net numeric
)
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF NOT isfinite(billing.require(p_as_of, 'p_as_of')) THEN
        PERFORM billing.fail('22023', format('an aging as of %s has no days past due', p_as_of),
            NULL, 'Give a finite moment, e.g. now() or ''2026-01-31 23:59''.');
    END IF;
    RETURN QUERY
    SELECT o.customer_id, c.name, o.currency,
        coalesce(sum(o.open_amount) FILTER (WHERE o.kind = 'invoice' AND o.days_late <= 0), 0),
        coalesce(sum(o.open_amount) FILTER (WHERE o.kind = 'invoice' AND o.days_late BETWEEN 1 AND 30), 0),
        coalesce(sum(o.open_amount) FILTER (WHERE o.kind = 'invoice' AND o.days_late BETWEEN 31 AND 60), 0),
        coalesce(sum(o.open_amount) FILTER (WHERE o.kind = 'invoice' AND o.days_late BETWEEN 61 AND 90), 0),
        coalesce(sum(o.open_amount) FILTER (WHERE o.kind = 'invoice' AND o.days_late > 90), 0),
        coalesce(sum(o.open_amount) FILTER (WHERE o.kind = 'invoice'), 0),
        coalesce(-sum(o.open_amount) FILTER (WHERE o.kind <> 'invoice'), 0),
        sum(o.open_amount)
    FROM (
        SELECT i.*, p_as_of::date - i.due_date AS days_late FROM billing.open_items(p_as_of) AS i
    ) AS o
    JOIN billing.customer AS c ON c.customer_id = o.customer_id
    GROUP BY o.customer_id, c.name, o.currency
    ORDER BY o.customer_id, o.currency;
END
$$;

COMMENT ON FUNCTION billing.ar_aging(timestamptz) IS
'Accounts receivable aging as of p_as_of (default: the moment of the call), per customer and currency: open '
'invoice amounts by days past their due date on p_as_of''s day in the session''s TimeZone (not_due: due that day '
'or later; then 1-30, 31-60, 61-90, over 90), receivable (their sum), open_credit (unapplied payments and credit '
'notes) and net = receivable - open_credit. Built on open_items, so a past moment gives what it gave then. '
'22023 for an infinite p_as_of.';

CREATE OR REPLACE FUNCTION billing.customer_statement(p_customer_id bigint, p_from date, p_to date)
RETURNS TABLE (
    currency char(3),
    entry_time timestamptz,
    entry text,
    document_no text,
    applied_to text,
    amount numeric,
    applied numeric,
    balance numeric,
    note text
)
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_from timestamptz;
    v_to timestamptz;
BEGIN
    PERFORM billing.check_period(p_from, p_to);
    v_from := p_from;
    v_to := p_to + 1;
    IF NOT EXISTS (SELECT FROM billing.customer AS c WHERE c.customer_id = billing.require(p_customer_id, 'p_customer_id')) THEN
        PERFORM billing.fail('23503', format('customer %s does not exist', p_customer_id));
    END IF;
    RETURN QUERY
    WITH event AS (
        -- amount: what the entry does to the balance the customer owes; applied: what an allocation moved.
        SELECT i.currency, i.issued_at AS at, 1 AS rank, i.invoice_id AS id, i.kind AS entry, i.invoice_no AS document_no,
            NULL::text AS applied_to, CASE WHEN i.kind = 'invoice' THEN i.total ELSE -i.total END AS amount,
            NULL::numeric AS applied, i.reason AS note
        FROM billing.invoice AS i
        WHERE i.customer_id = p_customer_id AND i.status = 'issued' AND i.issued_at < v_to
        UNION ALL
        SELECT p.currency, p.recorded_at, 2, p.payment_id, 'payment', p.payment_no, NULL, -p.amount, NULL, p.reference
        FROM billing.payment AS p
        WHERE p.customer_id = p_customer_id AND p.recorded_at < v_to
        UNION ALL
        SELECT a.currency, a.allocated_at, 3, a.allocation_id,
            CASE WHEN a.reverses_allocation_id IS NULL THEN 'allocation' ELSE 'allocation_reversal' END,
            coalesce(p.payment_no, cn.invoice_no), i.invoice_no, 0, a.amount, a.reason
        FROM billing.allocation AS a
        JOIN billing.invoice AS i ON i.customer_id = a.customer_id AND i.invoice_id = a.invoice_id
        LEFT JOIN billing.payment AS p ON p.customer_id = a.customer_id AND p.payment_id = a.payment_id
        LEFT JOIN billing.invoice AS cn ON cn.customer_id = a.customer_id AND cn.invoice_id = a.credit_note_id
        WHERE a.customer_id = p_customer_id AND a.allocated_at < v_to
        UNION ALL
        SELECT w.currency, w.written_off_at, 4, w.write_off_id,
            CASE WHEN w.reverses_write_off_id IS NULL THEN 'write_off' ELSE 'write_off_reversal' END,
            i.invoice_no, NULL, -w.amount, NULL, w.reason
        FROM billing.write_off AS w
        JOIN billing.invoice AS i ON i.customer_id = w.customer_id AND i.invoice_id = w.invoice_id
        WHERE w.customer_id = p_customer_id AND w.written_off_at < v_to
        UNION ALL
        SELECT r.currency, r.recorded_at, 5, r.refund_id, 'refund', NULL, NULL, r.amount, NULL, r.reason
        FROM billing.refund AS r
        WHERE r.customer_id = p_customer_id AND r.recorded_at < v_to
        UNION ALL
        SELECT p.currency, c.recorded_at, 6, c.payment_id, 'payment_canceled', p.payment_no, NULL, b.voided, NULL,
            c.cancel_reason
        FROM billing.payment_cancellation AS c
        JOIN billing.payment AS p ON p.customer_id = c.customer_id AND p.payment_id = c.payment_id
        JOIN billing.payment_balance AS b ON b.customer_id = c.customer_id AND b.payment_id = c.payment_id
        WHERE c.customer_id = p_customer_id AND c.recorded_at < v_to
    ), running AS (
        SELECT e.*, sum(e.amount) OVER (PARTITION BY e.currency ORDER BY e.at, e.rank, e.id) AS balance
        FROM event AS e
    ), opening AS (
        SELECT r.currency, coalesce(sum(r.amount) FILTER (WHERE r.at < v_from), 0) AS opening, sum(r.amount) AS closing
        FROM event AS r
        GROUP BY r.currency
    )
    SELECT s.currency, s.at, s.entry, s.document_no, s.applied_to, s.amount, s.applied, s.balance, s.note
    FROM (
        SELECT o.currency, v_from AS at, 0 AS part, 0 AS rank, 0::bigint AS id, 'opening_balance' AS entry,
            NULL::text AS document_no, NULL::text AS applied_to, NULL::numeric AS amount, NULL::numeric AS applied,
            o.opening AS balance, NULL::text AS note
        FROM opening AS o
        UNION ALL
        SELECT r.currency, r.at, 1, r.rank, r.id, r.entry, r.document_no, r.applied_to, r.amount, r.applied,
            r.balance, r.note
        FROM running AS r WHERE r.at >= v_from
        UNION ALL
        SELECT o.currency, v_to, 2, 0, 0, 'closing_balance', NULL, NULL, NULL, NULL, o.closing, NULL
        FROM opening AS o
    ) AS s
    ORDER BY s.currency, s.part, s.at, s.rank, s.id;
END
$$;

COMMENT ON FUNCTION billing.customer_statement(bigint, date, date) IS
'A customer''s statement for the days p_from to p_to (both included), per currency and in time order: the '
'opening balance, every invoice and credit note issued, payment, allocation and its reversal, write-off and its '
'reversal, refund and payment cancellation, each with what it does to the balance (amount: invoices, refunds, '
'reversed write-offs and a canceled payment''s voided rest raise it; credit notes, payments and write-offs lower '
'it; an allocation moves credit onto an invoice and leaves it, shown in applied) and the running balance, then '
'the closing balance, which equals net in customer_balance for a period ending today. 23503 for an unknown '
'customer; 22023 for a period that ends before it starts.';

CREATE OR REPLACE FUNCTION billing.tax_summary(p_from date, p_to date)
RETURNS TABLE (
    tax_code text,
    authority text,
    rate numeric,
    currency char(3),
    taxable_invoiced numeric,
    tax_invoiced numeric,
    taxable_credited numeric,
    tax_credited numeric,
    net_taxable numeric,
    net_tax numeric
)
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_from timestamptz;
    v_to timestamptz;
BEGIN
    PERFORM billing.check_period(p_from, p_to);
    v_from := p_from;
    v_to := p_to + 1;
    RETURN QUERY
    WITH credit AS (
        -- What each issued credit note took back of each invoice's goods (product, fee and discount lines),
        -- for the invoices credited in the period, with the running total in issue order.
        SELECT cn.customer_id, cn.currency, cl.credited_invoice_id AS invoice_id, cn.issued_at, sum(cl.amount) AS amount,
            sum(sum(cl.amount)) OVER (
                PARTITION BY cn.customer_id, cl.credited_invoice_id ORDER BY cn.issued_at, cn.invoice_id
            ) AS running
        FROM billing.invoice AS cn
        JOIN billing.credit_note_line AS cl ON cl.customer_id = cn.customer_id AND cl.credit_note_id = cn.invoice_id
        JOIN billing.invoice_line AS l
            ON l.customer_id = cl.customer_id AND l.invoice_id = cl.credited_invoice_id AND l.line_no = cl.credited_line_no
        WHERE cn.kind = 'credit_note' AND cn.status = 'issued' AND cn.issued_at < v_to
            AND l.line_type IN ('product', 'fee', 'discount')
            AND (cn.customer_id, cl.credited_invoice_id) IN (
                SELECT p.customer_id, p.credited_invoice_id FROM billing.invoice AS p
                WHERE p.kind = 'credit_note' AND p.status = 'issued' AND p.issued_at >= v_from AND p.issued_at < v_to
            )
        GROUP BY cn.customer_id, cn.currency, cl.credited_invoice_id, cn.issued_at, cn.invoice_id
    )
    SELECT x.tax_code, a.name, x.rate, x.currency,
        coalesce(sum(x.taxable) FILTER (WHERE x.invoiced), 0), coalesce(sum(x.tax) FILTER (WHERE x.invoiced), 0),
        coalesce(sum(x.taxable) FILTER (WHERE NOT x.invoiced), 0), coalesce(sum(x.tax) FILTER (WHERE NOT x.invoiced), 0),
        sum(x.taxable * CASE WHEN x.invoiced THEN 1 ELSE -1 END), sum(x.tax * CASE WHEN x.invoiced THEN 1 ELSE -1 END)
    FROM (
        SELECT TRUE AS invoiced, t.tax_code, t.rate, i.currency, t.taxable_amount AS taxable, l.amount AS tax
        FROM billing.invoice AS i
        JOIN billing.invoice_tax_line AS t ON t.customer_id = i.customer_id AND t.invoice_id = i.invoice_id
        JOIN billing.invoice_line AS l
            ON l.customer_id = t.customer_id AND l.invoice_id = t.invoice_id AND l.line_no = t.line_no
        WHERE i.status = 'issued' AND i.kind = 'invoice' AND i.issued_at >= v_from AND i.issued_at < v_to
        UNION ALL
        -- Tax taken back: credit note lines of tax lines, as issued.
        SELECT FALSE, t.tax_code, t.rate, cn.currency, 0, cl.amount
        FROM billing.invoice AS cn
        JOIN billing.credit_note_line AS cl ON cl.customer_id = cn.customer_id AND cl.credit_note_id = cn.invoice_id
        JOIN billing.invoice_tax_line AS t
            ON t.customer_id = cl.customer_id AND t.invoice_id = cl.credited_invoice_id AND t.line_no = cl.credited_line_no
        WHERE cn.status = 'issued' AND cn.kind = 'credit_note' AND cn.issued_at >= v_from AND cn.issued_at < v_to
        UNION ALL
        -- Taxable base taken back: each tax line's base in the share of the invoice's goods the credit note took
        -- back, from running totals, so the shares of all its credit notes add up to the whole base exactly.
        SELECT FALSE, t.tax_code, t.rate, c.currency,
            billing.round_money(t.taxable_amount * c.running / g.amount, c.currency)
                - billing.round_money(t.taxable_amount * (c.running - c.amount) / g.amount, c.currency),
            0
        FROM credit AS c
        JOIN billing.invoice_tax_line AS t ON t.customer_id = c.customer_id AND t.invoice_id = c.invoice_id
        CROSS JOIN LATERAL (
            SELECT sum(gl.amount) AS amount FROM billing.invoice_line AS gl
            WHERE gl.customer_id = c.customer_id AND gl.invoice_id = c.invoice_id
                AND gl.line_type IN ('product', 'fee', 'discount')
        ) AS g
        WHERE c.issued_at >= v_from AND g.amount <> 0
    ) AS x
    JOIN billing.tax_authority AS a ON a.tax_code = x.tax_code
    GROUP BY x.tax_code, a.name, x.rate, x.currency
    ORDER BY x.tax_code, x.rate, x.currency;
END
$$;

COMMENT ON FUNCTION billing.tax_summary(date, date) IS
'Tax per authority, rate and currency for documents issued on the days p_from to p_to (both included): taxable '
'base and tax invoiced; tax taken back by credit notes issued in the period (their lines of tax lines) and taxable '
'base taken back (each tax line''s base in the share of the invoice''s product, fee and discount amounts the credit '
'note took back, so a void takes back the whole base even at a zero rate); and the net. 22023 for a period that '
'ends before it starts.';

CREATE OR REPLACE FUNCTION billing.revenue_by_line_type(p_from date, p_to date)
RETURNS TABLE (currency char(3), line_type text, fee_code text, invoiced numeric, credited numeric, net numeric)
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    PERFORM billing.check_period(p_from, p_to);
    RETURN QUERY
    SELECT x.currency, x.line_type, x.fee_code,
        coalesce(sum(x.amount) FILTER (WHERE x.invoiced), 0), coalesce(sum(x.amount) FILTER (WHERE NOT x.invoiced), 0),
        sum(x.amount * CASE WHEN x.invoiced THEN 1 ELSE -1 END)
    FROM (
        SELECT TRUE AS invoiced, i.currency, l.line_type, f.fee_code, l.amount
        FROM billing.invoice AS i
        JOIN billing.invoice_line AS l ON l.customer_id = i.customer_id AND l.invoice_id = i.invoice_id
        LEFT JOIN billing.invoice_fee_line AS f
            ON f.customer_id = l.customer_id AND f.invoice_id = l.invoice_id AND f.line_no = l.line_no
        WHERE i.status = 'issued' AND i.kind = 'invoice' AND l.line_type IN ('product', 'fee', 'discount')
            AND i.issued_at >= p_from::timestamptz AND i.issued_at < (p_to + 1)::timestamptz
        UNION ALL
        SELECT FALSE, cn.currency, l.line_type, f.fee_code, cl.amount
        FROM billing.invoice AS cn
        JOIN billing.credit_note_line AS cl ON cl.customer_id = cn.customer_id AND cl.credit_note_id = cn.invoice_id
        JOIN billing.invoice_line AS l
            ON l.customer_id = cl.customer_id AND l.invoice_id = cl.credited_invoice_id AND l.line_no = cl.credited_line_no
        LEFT JOIN billing.invoice_fee_line AS f
            ON f.customer_id = l.customer_id AND f.invoice_id = l.invoice_id AND f.line_no = l.line_no
        WHERE cn.status = 'issued' AND cn.kind = 'credit_note' AND l.line_type IN ('product', 'fee', 'discount')
            AND cn.issued_at >= p_from::timestamptz AND cn.issued_at < (p_to + 1)::timestamptz
    ) AS x
    GROUP BY x.currency, x.line_type, x.fee_code
    ORDER BY x.currency, x.line_type, x.fee_code;
END
$$;

COMMENT ON FUNCTION billing.revenue_by_line_type(date, date) IS
'Revenue per currency and line type (product, fee by fee_code, discount, which is negative) for documents issued '
'on the days p_from to p_to (both included): invoiced, credited by credit notes issued in the period, and net. '
'Tax and memo lines are not revenue. 22023 for a period that ends before it starts.';

CREATE OR REPLACE VIEW billing.unapplied_cash AS
SELECT
    p.customer_id,
    c.name AS customer_name,
    p.currency,
    p.payment_id,
    p.payment_no,
    m.code AS method,
    p.received_at,
    p.amount,
    b.amount - b.allocated - b.refunded - b.voided AS unapplied
FROM billing.payment_balance AS b
INNER JOIN billing.payment AS p ON b.customer_id = p.customer_id AND b.payment_id = p.payment_id
INNER JOIN billing.payment_method AS m ON p.method_id = m.method_id
INNER JOIN billing.customer AS c ON p.customer_id = c.customer_id
WHERE b.amount - b.allocated - b.refunded - b.voided > 0;

COMMENT ON VIEW billing.unapplied_cash IS
'Payments with money neither applied to invoices nor refunded (unapplied), with their customer and method; '
'read through payment_balance_open_amount_idx.';
