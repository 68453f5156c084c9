-- Public API: reconciliation strategies, and paying listed invoices with one payment.

CREATE OR REPLACE FUNCTION billing.lock_payment(
    p_customer_id bigint, p_payment_id bigint, OUT currency text, OUT unallocated numeric
)
LANGUAGE plpgsql
AS $$
BEGIN
    SELECT p.currency, b.amount - b.allocated - b.refunded - b.voided INTO currency, unallocated
    FROM billing.payment AS p
    JOIN billing.payment_balance AS b ON b.customer_id = p.customer_id AND b.payment_id = p.payment_id
    WHERE p.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND p.payment_id = billing.require(p_payment_id, 'p_payment_id')
    FOR UPDATE OF b;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('payment %s of customer %s does not exist', p_payment_id, p_customer_id));
    END IF;
    IF EXISTS (
        SELECT FROM billing.payment_cancellation AS c WHERE c.customer_id = p_customer_id AND c.payment_id = p_payment_id
    ) THEN
        PERFORM billing.fail('55000', format('%s is canceled', billing.source_label(p_customer_id, p_payment_id, NULL)));
    END IF;
END
$$;

COMMENT ON FUNCTION billing.lock_payment(bigint, bigint) IS
'Locks a payment''s balance row until commit (the source is always locked first) and returns its currency and '
'what it has left; 23503 when unknown, 55000 when canceled.';

CREATE OR REPLACE FUNCTION billing.open_invoices(p_customer_id bigint, p_currency text)
RETURNS TABLE (invoice_id bigint, open_amount numeric, due date, issued_at timestamptz, invoice_no text)
LANGUAGE plpgsql
STABLE
AS $$
#variable_conflict use_column
BEGIN
    PERFORM billing.require(p_customer_id, 'p_customer_id'), billing.require(p_currency, 'p_currency');
    -- The open items first, through invoice_balance_open_amount_idx (MATERIALIZED: the planner may not start from
    -- the invoices, whose number grows with paid history; it did, misjudging kind and currency).
    RETURN QUERY WITH open_balance AS MATERIALIZED (
        SELECT b.customer_id, b.invoice_id, b.total - b.allocated AS open_amount
        FROM billing.invoice_balance AS b
        WHERE b.customer_id = p_customer_id AND b.total - b.allocated - b.refunded > 0
    )
    SELECT b.invoice_id, b.open_amount, coalesce(i.due_date, i.issued_at::date), i.issued_at, i.invoice_no
    FROM open_balance AS b
    JOIN billing.invoice AS i ON i.customer_id = b.customer_id AND i.invoice_id = b.invoice_id
    WHERE i.kind = 'invoice' AND i.currency = p_currency AND i.customer_id = p_customer_id
        AND NOT EXISTS (
            SELECT FROM billing.invoice_dispute AS d
            WHERE d.customer_id = p_customer_id AND d.invoice_id = b.invoice_id AND d.resolved_at IS NULL
        );
END
$$;

COMMENT ON FUNCTION billing.open_invoices(bigint, text) IS
'A customer''s open, undisputed invoices in a currency, with their open amount and due date (the issue date when '
'none): read through invoice_balance_open_amount_idx, so its cost follows the open items, not the paid history.';

CREATE OR REPLACE FUNCTION billing.auto_allocate(
    p_customer_id bigint, p_payment_id bigint, p_strategy text DEFAULT 'exact_then_oldest'
) RETURNS TABLE (invoice_id bigint, amount numeric)
LANGUAGE plpgsql
AS $$
DECLARE
    v_currency text;
    v_left numeric;
    v_exact bigint;
    v_oldest bigint [];
    v_chosen bigint [];
    v_reason text;
    r record;
BEGIN
    IF billing.require(p_strategy, 'p_strategy') NOT IN ('oldest', 'exact', 'exact_then_oldest') THEN
        PERFORM billing.fail('22023', format('unknown allocation strategy %L', left(p_strategy, 50)),
            p_hint => 'Use oldest, exact or exact_then_oldest; allocate_payment names the invoice itself.');
    END IF;
    SELECT l.currency, l.unallocated INTO v_currency, v_left FROM billing.lock_payment(p_customer_id, p_payment_id) AS l;
    -- One auto_allocate per customer at a time (the customer row, after the payment), so each chooses from what
    -- the one before it left. Then choose the invoices as they stand (the oldest exact match, else the oldest ones
    -- the payment reaches), lock only those, in invoice_id order, and allocate to them oldest first what they have
    -- open once locked: the cost follows what the payment pays, not how many invoices are open. What another kind
    -- of allocation (allocate_payment, pay_invoices, a credit note) took from a chosen invoice meanwhile stays with
    -- this payment, unapplied: call it again.
    PERFORM FROM billing.customer AS cu WHERE cu.customer_id = p_customer_id FOR NO KEY UPDATE;
    SELECT
        (array_agg(c.invoice_id ORDER BY c.age) FILTER (WHERE c.open_amount = v_left))[1],
        array_agg(c.invoice_id ORDER BY c.age) FILTER (WHERE c.paid_before < v_left)
    INTO v_exact, v_oldest
    FROM (
        SELECT o.invoice_id, o.open_amount,
            row_number() OVER (ORDER BY o.due, o.issued_at, o.invoice_no) AS age,
            sum(o.open_amount) OVER (ORDER BY o.due, o.issued_at, o.invoice_no) - o.open_amount AS paid_before
        FROM billing.open_invoices(p_customer_id, v_currency) AS o
    ) AS c;
    IF p_strategy <> 'oldest' AND v_exact IS NOT NULL THEN
        v_chosen := ARRAY[v_exact];
        v_reason := 'auto: exact match';
    ELSIF p_strategy <> 'exact' THEN
        v_chosen := v_oldest;
        v_reason := 'auto: oldest first';
    END IF;
    PERFORM FROM billing.invoice_balance AS b
    WHERE b.customer_id = p_customer_id AND b.invoice_id = ANY(v_chosen)
    ORDER BY b.invoice_id
    FOR UPDATE;
    FOR r IN
        SELECT o.invoice_id, o.open_amount AS open FROM billing.open_invoices(p_customer_id, v_currency) AS o
        WHERE o.invoice_id = ANY(v_chosen)
        ORDER BY o.due, o.issued_at, o.invoice_no
    LOOP
        EXIT WHEN v_left = 0 OR v_reason = 'auto: exact match' AND r.open <> v_left;
        PERFORM billing.allocate(p_customer_id, p_payment_id, NULL, r.invoice_id, least(r.open, v_left), v_reason);
        invoice_id := r.invoice_id;
        amount := least(r.open, v_left);
        v_left := v_left - amount;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION billing.auto_allocate(bigint, bigint, text) IS
'Applies what a payment has left to the customer''s open, undisputed invoices in its currency, and returns what '
'went where. exact: only to the oldest invoice whose open amount equals it; oldest: oldest first (due date, issue '
'time, number), a remainder stays unapplied; exact_then_oldest (default): exact if there is one, else oldest. '
'Reads only open items (invoice_balance_open_amount_idx).';

CREATE OR REPLACE FUNCTION billing.pay_invoices(
    p_customer_id bigint, p_currency text, p_amount numeric, p_method text, p_invoice_ids bigint[],
    p_reference text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_payment_id bigint := billing.record_payment(p_customer_id, p_currency, p_amount, p_method, now(), NULL, p_reference);
    v_left numeric := p_amount;
    v_open numeric;
    v_invoice_id bigint;
BEGIN
    IF billing.require(p_invoice_ids, 'p_invoice_ids') = '{}' OR array_position(p_invoice_ids, NULL) IS NOT NULL THEN
        PERFORM billing.fail('22023', 'p_invoice_ids must list at least one invoice, and no NULL');
    END IF;
    -- Invoices locked in id order after the (new) payment, then paid in the order given.
    PERFORM FROM billing.invoice_balance AS b
    WHERE b.customer_id = p_customer_id AND b.invoice_id = ANY(p_invoice_ids)
    ORDER BY b.invoice_id
    FOR UPDATE;
    FOREACH v_invoice_id IN ARRAY p_invoice_ids LOOP
        SELECT b.total - b.allocated INTO v_open FROM billing.invoice_balance AS b
        WHERE b.customer_id = p_customer_id AND b.invoice_id = v_invoice_id;
        IF NOT FOUND THEN
            PERFORM billing.fail('23503', format('%s cannot be paid: not an issued invoice of this customer',
                billing.document_label(p_customer_id, v_invoice_id)));
        END IF;
        IF least(v_open, v_left) > 0 THEN
            PERFORM billing.allocate(p_customer_id, v_payment_id, NULL, v_invoice_id, least(v_open, v_left));
            v_left := v_left - least(v_open, v_left);
        END IF;
    END LOOP;
    RETURN v_payment_id;
END
$$;

COMMENT ON FUNCTION billing.pay_invoices(bigint, text, numeric, text, bigint[], text) IS
'Records one payment and applies it to the listed invoices in the given order, each as far as it is open; '
'a remainder stays unapplied (open credit). Returns the payment id.';
