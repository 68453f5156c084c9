-- Public API: credit notes, voiding an invoice, canceling an order. Rules on invoice_cancellation.

CREATE OR REPLACE FUNCTION billing.issue_credit_note(
    p_customer_id bigint, p_invoice_id bigint, p_lines jsonb DEFAULT NULL, p_reason text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_invoice billing.invoice;
    v_credit_note_id bigint;
    v_line_no integer := 0;
    v_item jsonb;
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
        WHERE jsonb_typeof(e.value) <> 'object' OR jsonb_typeof(e.value -> 'line_no') <> 'number'
            OR (e.value ? 'quantity') = (e.value ? 'amount')
            OR jsonb_typeof(coalesce(e.value -> 'quantity', e.value -> 'amount')) <> 'number'
    )) THEN
        PERFORM billing.fail('22023', 'p_lines must be a non-empty JSON array of {"line_no": n, "quantity": q} or {"line_no": n, "amount": a}',
            format('given: %s', left(p_lines::text, 200)));
    END IF;
    -- The balance row lock serializes credit notes of this invoice, so the remainders below stay true.
    PERFORM FROM billing.invoice_balance AS b
    WHERE b.customer_id = p_customer_id AND b.invoice_id = p_invoice_id
    FOR UPDATE;

    INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id, reason)
    VALUES (p_customer_id, 'credit_note', v_invoice.currency, p_invoice_id, p_reason)
    RETURNING invoice_id INTO v_credit_note_id;

    FOR r IN
        SELECT l.line_no, l.unit_amount, l.amount,
            l.quantity - l.credited_quantity AS quantity_left, l.amount - l.credited_amount AS amount_left,
            e.value AS item
        FROM billing.invoice_line_summary AS l
        LEFT JOIN jsonb_array_elements(p_lines) AS e ON (e.value ->> 'line_no')::integer = l.line_no
        WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id
            AND (p_lines IS NULL OR e.value IS NOT NULL)
        ORDER BY l.line_no
    LOOP
        v_item := r.item;
        IF v_item IS NULL AND r.amount_left = 0 AND r.quantity_left = 0 THEN
            CONTINUE;  -- crediting everything: this line has nothing left
        ELSIF v_item IS NULL AND r.amount_left = 0 THEN
            CONTINUE;  -- a memo line, or one whose amount is credited in full already
        END IF;
        IF v_item ? 'quantity' AND r.unit_amount IS NULL THEN
            PERFORM billing.fail('22023', format('line %s of %s has no unit price: credit it by amount', r.line_no,
                billing.document_label(p_customer_id, p_invoice_id)));
        END IF;
        v_line_no := v_line_no + 1;
        INSERT INTO billing.credit_note_line (
            customer_id, credit_note_id, line_no, credited_invoice_id, credited_line_no, quantity, amount
        ) VALUES (
            p_customer_id, v_credit_note_id, v_line_no, p_invoice_id, r.line_no,
            CASE
                WHEN v_item IS NULL THEN nullif(r.quantity_left, 0)
                ELSE (v_item ->> 'quantity')::numeric
            END,
            CASE
                -- everything left, or all the quantity left: the whole remaining amount, to the cent
                WHEN v_item IS NULL OR (v_item ->> 'quantity')::numeric = r.quantity_left THEN r.amount_left
                WHEN v_item ? 'quantity' THEN billing.round_money((v_item ->> 'quantity')::numeric * r.unit_amount, v_invoice.currency)
                -- an amount is given as a positive magnitude and takes the sign of the credited line
                ELSE sign(r.amount) * (v_item ->> 'amount')::numeric
            END
        );
    END LOOP;
    IF p_lines IS NOT NULL AND v_line_no < jsonb_array_length(p_lines) THEN
        PERFORM billing.fail('23503', format('p_lines names lines that %s does not have (or names one twice)',
            billing.document_label(p_customer_id, p_invoice_id)), format('given: %s', p_lines));
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
'(at the line''s unit price; credited product quantity becomes billable again) or [{"line_no": n, "amount": a}] '
'(a positive amount, a price correction); NULL credits everything not yet credited. Never more than was billed, '
'per line and in all (23514).';

CREATE OR REPLACE FUNCTION billing.void_invoice(p_customer_id bigint, p_invoice_id bigint, p_reason text)
RETURNS bigint
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
    v_credit_note_id := billing.issue_credit_note(p_customer_id, p_invoice_id, NULL, billing.require(p_reason, 'p_reason'));
    INSERT INTO billing.invoice_cancellation (customer_id, invoice_id, canceled_time, cancel_reason, credit_note_id)
    VALUES (p_customer_id, p_invoice_id, now(), p_reason, v_credit_note_id);
    RETURN v_credit_note_id;
END
$$;

COMMENT ON FUNCTION billing.void_invoice(bigint, bigint, text) IS
'Cancels an issued invoice: credits everything not yet credited with one credit note (returned) and records '
'the cancellation time and reason. Canceling twice: 55000.';

CREATE OR REPLACE FUNCTION billing.cancel_order(p_customer_id bigint, p_order_id bigint, p_reason text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_order billing.sales_order := billing.lock_order(p_customer_id, p_order_id);
    v_invoice_id bigint;
BEGIN
    IF v_order.is_canceled THEN
        PERFORM billing.fail('55000', format('order %s of customer %s is canceled already', p_order_id, p_customer_id),
            format('canceled at %s: %s', v_order.canceled_time, v_order.cancel_reason));
    END IF;
    UPDATE billing.sales_order AS o
    SET is_canceled = TRUE, canceled_time = now(), cancel_reason = billing.require(p_reason, 'p_reason')
    WHERE o.customer_id = p_customer_id AND o.order_id = p_order_id;
    -- Every open invoice billing this order is credited in full; now() gives all the same canceled time.
    FOR v_invoice_id IN
        SELECT DISTINCT i.invoice_id
        FROM billing.invoice AS i
        JOIN billing.invoice_balance AS b USING (customer_id, invoice_id)
        WHERE i.customer_id = p_customer_id AND i.kind = 'invoice' AND b.credited < b.total
            AND NOT EXISTS (
                SELECT FROM billing.invoice_cancellation AS c
                WHERE c.customer_id = i.customer_id AND c.invoice_id = i.invoice_id
            )
            AND (
                EXISTS (
                    SELECT FROM billing.invoice_product_line AS p
                    WHERE p.customer_id = i.customer_id AND p.invoice_id = i.invoice_id AND p.order_id = p_order_id
                )
                OR EXISTS (
                    SELECT FROM billing.invoice_fee_line AS f
                    WHERE f.customer_id = i.customer_id AND f.invoice_id = i.invoice_id AND f.order_id = p_order_id
                )
            )
        ORDER BY i.invoice_id
    LOOP
        PERFORM billing.void_invoice(p_customer_id, v_invoice_id, p_reason);
    END LOOP;
    -- Hook for the payments issue: reverse the allocations of the voided invoices and cancel or free
    -- the payments that paid them, with the same canceled time and reason.
END
$$;

COMMENT ON FUNCTION billing.cancel_order(bigint, bigint, text) IS
'Cancels an order with a reason: every open invoice billing it is voided by a credit note, and the order, those '
'invoices and their lines read canceled with one canceled time and reason. Canceling twice: 55000.';

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
