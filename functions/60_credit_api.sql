-- Public API: credit notes, voiding an invoice, canceling an order. Rules on invoice_cancellation.

CREATE OR REPLACE FUNCTION billing.credit_shares(p_customer_id bigint, p_invoice_id bigint, p_credit_note_id bigint)
RETURNS TABLE (line_no integer, line_type text, expected numeric, given numeric)
LANGUAGE plpgsql
STABLE
AS $$
#variable_conflict use_column
BEGIN
    -- Each discount and tax line of an invoice goes back with its base, in the share of what the base still holds
    -- that the credit note takes (all of the rest once it takes all of the base). The base of a discount is the
    -- line it applies to, or every product and fee line; the base of a tax line is the other lines before it.
    RETURN QUERY WITH credit AS (
        SELECT
            c.credited_line_no AS line_no,
            coalesce(sum(c.amount) FILTER (WHERE c.credit_note_id <> p_credit_note_id), 0) AS before,
            coalesce(sum(c.amount) FILTER (WHERE c.credit_note_id = p_credit_note_id), 0) AS this
        FROM billing.credit_note_line AS c
        INNER JOIN billing.invoice AS cn ON c.customer_id = cn.customer_id AND c.credit_note_id = cn.invoice_id
        WHERE
            c.customer_id = p_customer_id AND c.credited_invoice_id = p_invoice_id
            AND (cn.status = 'issued' OR cn.invoice_id = p_credit_note_id)
        GROUP BY c.credited_line_no
    ),

    line AS (
        SELECT
            l.line_no,
            l.line_type,
            d.applies_to_line_no,
            l.amount - coalesce(c.before, 0) AS amount_left,
            coalesce(c.this, 0) AS this
        FROM billing.invoice_line AS l
        LEFT JOIN credit AS c ON l.line_no = c.line_no
        LEFT JOIN billing.invoice_discount_line AS d
            ON l.customer_id = d.customer_id AND l.invoice_id = d.invoice_id AND l.line_no = d.line_no
        WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id
    )

    SELECT
        s.line_no,
        s.line_type,
        CASE
            WHEN b.this = b.amount_left THEN s.amount_left
            ELSE billing.round_money(s.amount_left * b.this / b.amount_left, i.currency)
        END AS expected,
        s.this AS given
    FROM line AS s
    INNER JOIN billing.invoice AS i ON i.customer_id = p_customer_id AND i.invoice_id = p_invoice_id
    CROSS JOIN LATERAL (
        SELECT
            sum(x.amount_left) AS amount_left,
            sum(x.this) AS this
        FROM line AS x
        WHERE CASE
            WHEN s.line_type = 'tax' THEN x.line_no < s.line_no AND x.line_type <> 'tax'
            WHEN s.applies_to_line_no IS NOT NULL THEN x.line_no = s.applies_to_line_no
            ELSE x.line_type IN ('product', 'fee')
        END
    ) AS b
    WHERE s.line_type IN ('discount', 'tax') AND b.amount_left <> 0;
END
$$;

COMMENT ON FUNCTION billing.credit_shares(bigint, bigint, bigint) IS
'Internal to crediting: per discount and tax line of an invoice, what credit note p_credit_note_id must give back '
'of it (expected: its share of what the credit note takes of its base) and what it gives (given).';

CREATE OR REPLACE FUNCTION billing.issue_credit_note(
    p_customer_id bigint, p_invoice_id bigint, p_lines jsonb DEFAULT NULL, p_reason text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_invoice billing.invoice;
    v_credit_note_id bigint;
    v_line_no integer := 0;
    v_quantity numeric;
    v_type text;
    v_added integer;
    r record;
BEGIN
    SELECT i.* INTO v_invoice FROM billing.invoice AS i
    WHERE i.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND i.invoice_id = billing.require(p_invoice_id, 'p_invoice_id');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    END IF;
    IF v_invoice.kind <> 'invoice' OR v_invoice.status <> 'issued' THEN
        PERFORM billing.fail('55000', format('%s cannot be credited: only an issued invoice can',
            billing.document_label(p_customer_id, p_invoice_id)));
    END IF;
    IF p_lines IS NOT NULL AND (jsonb_typeof(p_lines) <> 'array' OR jsonb_array_length(p_lines) = 0 OR EXISTS (
        SELECT FROM jsonb_array_elements(p_lines) AS e
        WHERE jsonb_typeof(e.value) <> 'object'
            OR e.value - ARRAY['line_no', 'quantity', 'amount'] <> '{}'::jsonb
            OR jsonb_typeof(e.value -> 'line_no') IS DISTINCT FROM 'number'
            OR (e.value ->> 'line_no') !~ '^[1-9][0-9]{0,8}$'
            OR (e.value ? 'quantity') = (e.value ? 'amount')
            OR jsonb_typeof(coalesce(e.value -> 'quantity', e.value -> 'amount')) <> 'number'
            OR (coalesce(e.value ->> 'quantity', e.value ->> 'amount'))::numeric <= 0
    ) OR EXISTS (
        SELECT FROM jsonb_array_elements(p_lines) AS e GROUP BY e.value ->> 'line_no' HAVING count(*) > 1
    )) THEN
        PERFORM billing.fail('22023',
            'p_lines must be a non-empty JSON array of {"line_no": n, "quantity": q} or {"line_no": n, "amount": a}, '
            'q and a positive, each line once, no other key', format('given: %s', left(p_lines::text, 200)));
    END IF;
    -- Lock order for every issuer: the number series, then what settles the invoice and the invoice's balance
    -- row (which serializes credit notes of this invoice, so the remainders read below stay true until
    -- commit), then the order lines.
    PERFORM billing.lock_series(p_customer_id, 'credit_note');
    PERFORM billing.lock_settled_invoice(p_customer_id, p_invoice_id);

    INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id, reason)
    VALUES (p_customer_id, 'credit_note', v_invoice.currency, p_invoice_id, p_reason)
    RETURNING invoice_id INTO v_credit_note_id;

    FOR r IN
        SELECT l.line_no, l.line_type, l.unit_amount, l.quantity_left, l.amount_left, e.value AS item
        FROM billing.invoice_line_summary AS l
        LEFT JOIN jsonb_array_elements(p_lines) AS e ON (e.value ->> 'line_no')::integer = l.line_no
        WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id
            AND CASE WHEN p_lines IS NULL THEN l.has_credit_left ELSE e.value IS NOT NULL END
        ORDER BY l.line_no
    LOOP
        IF r.item ? 'quantity' AND r.unit_amount IS NULL THEN
            PERFORM billing.fail('22023', format('line %s of %s has no unit price: credit it by amount', r.line_no,
                billing.document_label(p_customer_id, p_invoice_id)));
        END IF;
        v_quantity := CASE
            WHEN r.item IS NULL AND r.unit_amount IS NOT NULL THEN nullif(r.quantity_left, 0)
            ELSE (r.item ->> 'quantity')::numeric
        END;
        v_line_no := v_line_no + 1;
        INSERT INTO billing.credit_note_line (
            customer_id, credit_note_id, line_no, credited_invoice_id, credited_line_no, quantity, amount
        ) VALUES (
            p_customer_id, v_credit_note_id, v_line_no, p_invoice_id, r.line_no, v_quantity,
            CASE
                WHEN r.item IS NULL THEN r.amount_left
                -- units given back take their share of what the line still holds (all of it for the last ones)
                WHEN v_quantity IS NOT NULL AND v_quantity <= r.quantity_left
                    THEN billing.round_money(r.amount_left * v_quantity / r.quantity_left, v_invoice.currency)
                WHEN v_quantity IS NOT NULL THEN r.amount_left + 1  -- more units than are left: refused by the checks
                -- an amount is given as a positive magnitude and takes the sign of the credited line
                ELSE sign(r.amount_left) * (r.item ->> 'amount')::numeric
            END
        );
    END LOOP;
    -- Discounts, then tax, go back with what they were taken off or charged on, in the same share
    -- (billing.credit_shares); a share below the currency's minor unit is left to the last ones.
    IF p_lines IS NOT NULL THEN
        FOREACH v_type IN ARRAY ARRAY['discount', 'tax'] LOOP
            INSERT INTO billing.credit_note_line (
                customer_id, credit_note_id, line_no, credited_invoice_id, credited_line_no, amount
            )
            SELECT p_customer_id, v_credit_note_id, v_line_no + row_number() OVER (ORDER BY s.line_no),
                p_invoice_id, s.line_no, s.expected
            FROM billing.credit_shares(p_customer_id, p_invoice_id, v_credit_note_id) AS s
            WHERE s.line_type = v_type AND s.expected <> 0
                AND NOT p_lines @> jsonb_build_array(jsonb_build_object('line_no', s.line_no));
            GET DIAGNOSTICS v_added = ROW_COUNT;
            v_line_no := v_line_no + v_added;
        END LOOP;
    END IF;
    IF p_lines IS NOT NULL AND (
        SELECT count(*) FROM billing.invoice_line AS l
        WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id
            AND p_lines @> jsonb_build_array(jsonb_build_object('line_no', l.line_no))
    ) < jsonb_array_length(p_lines) THEN
        PERFORM billing.fail('23503', format('p_lines names lines that %s does not have',
            billing.document_label(p_customer_id, p_invoice_id)), format('given: %s', left(p_lines::text, 200)));
    END IF;
    IF v_line_no = 0 THEN
        PERFORM billing.fail('55000', format('%s is credited in full already',
            billing.document_label(p_customer_id, p_invoice_id)));
    END IF;
    PERFORM billing.issue_invoice(p_customer_id, v_credit_note_id);
    RETURN v_credit_note_id;
END
$$;

COMMENT ON FUNCTION billing.issue_credit_note(bigint, bigint, jsonb, text) IS
'Issues a credit note against an issued invoice and returns its id. p_lines = [{"line_no": n, "quantity": q}] '
'(q units back, worth their share of what the line still holds; they become billable again, and discounts '
'applying to that line go back in the same share) or [{"line_no": n, "amount": a}] (a positive amount: a price '
'correction); NULL credits everything left. Discount and tax lines give back their share of what is credited '
'of their base (billing.credit_shares): name them only with that amount. Never more than was billed, per line '
'and in all (23514). The credit note '
'settles the invoice: what the invoice had open first, then what write-offs, other credit notes and payments '
'(newest first) settled of it, which they get back (a payment''s becomes its open credit).';

CREATE OR REPLACE FUNCTION billing.lock_settled_invoice(p_customer_id bigint, p_invoice_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_payment_ids bigint[];
    v_credit_note_ids bigint[];
BEGIN
    -- The lock order of the allocating functions: sources (payments, then credit notes, by id) before the
    -- invoice they settle.
    SELECT array_agg(DISTINCT a.payment_id) FILTER (WHERE a.payment_id IS NOT NULL),
        array_agg(DISTINCT a.credit_note_id) FILTER (WHERE a.credit_note_id IS NOT NULL)
    INTO v_payment_ids, v_credit_note_ids
    FROM billing.active_allocation AS a
    WHERE a.customer_id = p_customer_id AND a.invoice_id = p_invoice_id;
    PERFORM FROM billing.payment_balance AS b
    WHERE b.customer_id = p_customer_id AND b.payment_id = ANY(v_payment_ids)
    ORDER BY b.payment_id
    FOR UPDATE;
    PERFORM FROM billing.invoice_balance AS b
    WHERE b.customer_id = p_customer_id AND b.invoice_id = ANY(v_credit_note_ids)
    ORDER BY b.invoice_id
    FOR UPDATE;
    PERFORM FROM billing.invoice_balance AS b
    WHERE b.customer_id = p_customer_id AND b.invoice_id = p_invoice_id
    FOR UPDATE;
    -- Holding the invoice, no new allocation can reach it; one that arrived since the read above is from a
    -- source not locked here, so the caller retries rather than risk a lock-order inversion.
    IF EXISTS (
        SELECT FROM billing.active_allocation AS a
        WHERE a.customer_id = p_customer_id AND a.invoice_id = p_invoice_id
            AND NOT (a.payment_id = ANY(coalesce(v_payment_ids, '{}')) OR a.credit_note_id = ANY(coalesce(v_credit_note_ids, '{}')))
    ) THEN
        PERFORM billing.fail('40001', format('%s was paid while it was being credited',
            billing.document_label(p_customer_id, p_invoice_id)), p_hint => 'Retry the transaction.');
    END IF;
END
$$;

COMMENT ON FUNCTION billing.lock_settled_invoice(bigint, bigint) IS
'Internal to crediting: locks the payments and credit notes that settle an invoice, then the invoice''s balance '
'row (the allocating functions'' order). A payment allocated to it meanwhile: 40001, retry.';

CREATE OR REPLACE FUNCTION billing.release_settlements(
    p_customer_id bigint, p_invoice_id bigint, p_amount numeric, p_reason text
) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_left numeric := p_amount;
    v_take numeric;
    r record;
BEGIN
    -- Write-offs first (nothing was collected), then credit notes applied from elsewhere, then payments; the
    -- newest first. A settlement released in part is reversed and applied again for the rest.
    FOR r IN
        SELECT 1 AS rank, w.write_off_id AS id, NULL::bigint AS payment_id, NULL::bigint AS credit_note_id,
            w.currency, w.amount, w.reason
        FROM billing.write_off AS w
        WHERE w.customer_id = p_customer_id AND w.invoice_id = p_invoice_id AND w.reverses_write_off_id IS NULL
            AND NOT EXISTS (
                SELECT FROM billing.write_off AS x
                WHERE x.customer_id = w.customer_id AND x.reverses_write_off_id = w.write_off_id
            )
        UNION ALL
        SELECT CASE WHEN a.payment_id IS NULL THEN 2 ELSE 3 END, a.allocation_id, a.payment_id, a.credit_note_id,
            a.currency, a.amount, a.reason
        FROM billing.active_allocation AS a
        WHERE a.customer_id = p_customer_id AND a.invoice_id = p_invoice_id
            AND NOT EXISTS (
                SELECT FROM billing.invoice AS cn
                WHERE cn.customer_id = a.customer_id AND cn.invoice_id = a.credit_note_id
                    AND cn.credited_invoice_id = p_invoice_id
            )
        ORDER BY rank, id DESC
    LOOP
        EXIT WHEN v_left <= 0;
        v_take := least(v_left, r.amount);
        IF r.rank = 1 THEN
            INSERT INTO billing.write_off (customer_id, currency, invoice_id, amount, reverses_write_off_id, reason)
            VALUES (p_customer_id, r.currency, p_invoice_id, -r.amount, r.id, p_reason);
            IF v_take < r.amount THEN
                INSERT INTO billing.write_off (customer_id, currency, invoice_id, amount, reason)
                VALUES (p_customer_id, r.currency, p_invoice_id, r.amount - v_take, r.reason);
            END IF;
        ELSE
            PERFORM billing.unallocate(p_customer_id, r.id, p_reason);
            IF v_take < r.amount THEN
                INSERT INTO billing.allocation (customer_id, currency, invoice_id, payment_id, credit_note_id, amount, reason)
                VALUES (p_customer_id, r.currency, p_invoice_id, r.payment_id, r.credit_note_id, r.amount - v_take, r.reason);
            END IF;
        END IF;
        v_left := v_left - v_take;
    END LOOP;
END
$$;

COMMENT ON FUNCTION billing.release_settlements(bigint, bigint, numeric, text) IS
'Internal to issuing a credit note: makes room for p_amount of it on an invoice that is settled already, by '
'reversing write-offs, then credit notes applied from elsewhere, then payment allocations (newest first, the last '
'one in part). What a payment gets back is its open credit: only cash paid in can be paid out.';

CREATE OR REPLACE FUNCTION billing.cancel_invoice(
    p_customer_id bigint, p_invoice_id bigint, p_reason text, p_canceled_time timestamptz
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_credit_note_id bigint;
BEGIN
    IF EXISTS (
        SELECT FROM billing.invoice_cancellation AS c
        WHERE c.customer_id = p_customer_id AND c.invoice_id = p_invoice_id
    ) THEN
        PERFORM billing.fail('55000', format('%s is canceled already', billing.document_label(p_customer_id, p_invoice_id)));
    END IF;
    -- The void credit note credits everything left, so settling the invoice it releases whatever else settled
    -- it: what payments paid becomes their open credit again and write-offs are reversed.
    v_credit_note_id := billing.issue_credit_note(p_customer_id, p_invoice_id, NULL, billing.require(p_reason, 'p_reason'));
    INSERT INTO billing.invoice_cancellation (customer_id, invoice_id, canceled_time, cancel_reason, credit_note_id)
    VALUES (p_customer_id, p_invoice_id, p_canceled_time, p_reason, v_credit_note_id);
    RETURN v_credit_note_id;
END
$$;

COMMENT ON FUNCTION billing.cancel_invoice(bigint, bigint, text, timestamptz) IS
'Internal to void_invoice and order cancellation: reverses what payments paid on the invoice (their open '
'credit again) and its write-offs, credits everything left with one credit note (returned), and records the '
'cancellation with the given time and reason. A payment allocated to it meanwhile: 40001, retry.';

CREATE OR REPLACE FUNCTION billing.void_invoice(p_customer_id bigint, p_invoice_id bigint, p_reason text)
RETURNS bigint
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN billing.cancel_invoice(p_customer_id, p_invoice_id, p_reason, now());
END
$$;

COMMENT ON FUNCTION billing.void_invoice(bigint, bigint, text) IS
'Cancels an issued invoice: what payments paid on it becomes their open credit again, everything not yet '
'credited is credited by one credit note (returned), and the cancellation time and reason are recorded. '
'Canceling twice: 55000.';

CREATE OR REPLACE FUNCTION billing.cancel_order(p_customer_id bigint, p_order_id bigint, p_reason text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_order billing.sales_order := billing.lock_order(p_customer_id, p_order_id);
BEGIN
    IF v_order.is_canceled THEN
        PERFORM billing.fail('55000', format('order %s of customer %s is canceled already', p_order_id, p_customer_id),
            format('canceled at %s: %s', v_order.canceled_time, v_order.cancel_reason));
    END IF;
    -- The trigger t20_sales_order_canceled voids the order's open invoices.
    UPDATE billing.sales_order AS o
    SET is_canceled = TRUE, canceled_time = now(), cancel_reason = billing.require(p_reason, 'p_reason')
    WHERE o.customer_id = p_customer_id AND o.order_id = p_order_id;
END
$$;

COMMENT ON FUNCTION billing.cancel_order(bigint, bigint, text) IS
'Cancels an order with a reason: every open invoice billing it is voided by a credit note, and the order, those '
'invoices and their lines read canceled with one canceled time and reason. Canceling twice: 55000.';

CREATE OR REPLACE FUNCTION billing.sales_order_canceled() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_invoice_ids bigint[];
    v_invoice_id bigint;
    v_payment_ids bigint[];
    v_shared_payment_ids bigint[];
    v_payment record;
BEGIN
    SELECT array_agg(DISTINCT s.invoice_id ORDER BY s.invoice_id) INTO v_invoice_ids
        FROM billing.invoice_line_summary AS s
        JOIN billing.invoice AS i ON i.customer_id = NEW.customer_id AND i.invoice_id = s.invoice_id
        WHERE s.customer_id = NEW.customer_id AND i.status = 'issued' AND NOT s.is_canceled
            AND EXISTS (
                SELECT FROM billing.invoice_line_summary AS o
                WHERE o.customer_id = NEW.customer_id AND o.invoice_id = s.invoice_id AND o.order_id = NEW.order_id
            )
            AND s.has_credit_left;
    -- The payments that paid those invoices, before they are voided; and those that paid an invoice billing
    -- something else too (another order, a fee of none), which were not wholly for this order.
    SELECT array_agg(DISTINCT a.payment_id),
        array_agg(DISTINCT a.payment_id) FILTER (WHERE EXISTS (
            SELECT FROM billing.invoice_line_summary AS o
            WHERE o.customer_id = NEW.customer_id AND o.invoice_id = a.invoice_id AND o.line_type IN ('product', 'fee')
                AND o.order_id IS DISTINCT FROM NEW.order_id
        ))
    INTO v_payment_ids, v_shared_payment_ids
    FROM billing.active_allocation AS a
    WHERE a.customer_id = NEW.customer_id AND a.invoice_id = ANY(v_invoice_ids) AND a.payment_id IS NOT NULL;
    -- The credit-note series and every payment of those invoices, before any invoice: the lock order of the
    -- allocating functions, so canceling an order cannot deadlock with an allocation to one of its invoices.
    IF v_invoice_ids IS NOT NULL THEN
        PERFORM billing.lock_series(NEW.customer_id, 'credit_note');
        PERFORM FROM billing.payment_balance AS b
        WHERE b.customer_id = NEW.customer_id AND b.payment_id = ANY(v_payment_ids)
        ORDER BY b.payment_id
        FOR UPDATE;
    END IF;
    -- Read again under the series lock: an invoice a concurrent call voided or credited in full meanwhile is done.
    FOREACH v_invoice_id IN ARRAY coalesce(v_invoice_ids, '{}') LOOP
        CONTINUE WHEN NOT EXISTS (
            SELECT FROM billing.invoice_line_summary AS s
            WHERE s.customer_id = NEW.customer_id AND s.invoice_id = v_invoice_id AND NOT s.is_canceled AND s.has_credit_left
        );
        PERFORM billing.cancel_invoice(NEW.customer_id, v_invoice_id, NEW.cancel_reason, NEW.canceled_time);
    END LOOP;
    -- A payment now paying nothing else, that paid only invoices of this order, was wholly for this order:
    -- refunded and canceled, same time and reason. One that also pays other invoices keeps those allocations,
    -- and one that paid an invoice billing other things too keeps what it paid here as its open credit.
    FOR v_payment IN
        SELECT p.payment_id, p.currency, p.method_id, b.amount - b.allocated - b.refunded - b.voided AS open_credit
        FROM billing.payment AS p
        JOIN billing.payment_balance AS b ON b.customer_id = NEW.customer_id AND b.payment_id = p.payment_id
        WHERE p.customer_id = NEW.customer_id AND p.payment_id = ANY(v_payment_ids) AND b.allocated = 0
            AND p.payment_id <> ALL(coalesce(v_shared_payment_ids, '{}'))
            AND NOT EXISTS (
                SELECT FROM billing.payment_cancellation AS pc
                WHERE pc.customer_id = NEW.customer_id AND pc.payment_id = p.payment_id
            )
        ORDER BY p.payment_id
    LOOP
        IF v_payment.open_credit > 0 THEN
            -- (the method's code apart: on Citus a customer's table joined with a lookup table fails Citus' check)
            PERFORM billing.refund(NEW.customer_id, v_payment.currency, v_payment.open_credit,
                (SELECT m.code FROM billing.payment_method AS m WHERE m.method_id = v_payment.method_id),
                NEW.cancel_reason, v_payment.payment_id);
        END IF;
        INSERT INTO billing.payment_cancellation (customer_id, payment_id, canceled_time, cancel_reason)
        VALUES (NEW.customer_id, v_payment.payment_id, NEW.canceled_time, NEW.cancel_reason);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.sales_order_canceled() IS
'Trigger after an order is canceled (by cancel_order or a direct UPDATE): voids every issued invoice billing it '
'that has anything left to credit, with the order''s canceled time and reason; a payment that then pays nothing '
'else and paid only invoices of this order is refunded and canceled with the same time and reason; any other '
'keeps what it paid here as open credit.';

CREATE OR REPLACE TRIGGER t20_sales_order_canceled
AFTER UPDATE ON billing.sales_order
FOR EACH ROW WHEN (NOT old.is_canceled AND new.is_canceled)
EXECUTE FUNCTION billing.sales_order_canceled();

CREATE OR REPLACE FUNCTION billing.invoice_cancellation_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('the cancellation of %s is history: %s refused',
            billing.document_label(OLD.customer_id, OLD.invoice_id), TG_OP));
    END IF;
    IF NOT EXISTS (
        SELECT FROM billing.invoice AS cn
        JOIN billing.invoice_balance AS b ON b.customer_id = cn.customer_id AND b.invoice_id = cn.credited_invoice_id
        WHERE cn.customer_id = NEW.customer_id AND cn.invoice_id = NEW.credit_note_id AND cn.status = 'issued'
            AND cn.credited_invoice_id = NEW.invoice_id AND b.credited = b.total
    ) THEN
        PERFORM billing.fail('55000', format('%s is not canceled by credit note %s',
            billing.document_label(NEW.customer_id, NEW.invoice_id), NEW.credit_note_id),
            'A cancellation names an issued credit note of that invoice, which then must be credited in full.',
            'Use billing.void_invoice.');
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.invoice_cancellation_rules() IS
'Trigger: a cancellation names an issued credit note of the invoice, which is then credited in full (55000); '
'once recorded it never changes (PB001).';

CREATE OR REPLACE TRIGGER t10_invoice_cancellation_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.invoice_cancellation
FOR EACH ROW EXECUTE FUNCTION billing.invoice_cancellation_rules();
