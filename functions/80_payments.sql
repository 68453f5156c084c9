-- Payments and allocations: rules as triggers (so direct INSERTs obey them), then the public API.
-- Lock order, everywhere: the credit source's balance row (payment or credit note) before invoices' balance
-- rows, several invoices in invoice_id order; so concurrent allocations cannot deadlock.

CREATE OR REPLACE FUNCTION billing.payment_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('payment %s of customer %s is recorded and never changes: %s refused',
            OLD.payment_no, OLD.customer_id, TG_OP), p_hint => 'Cancel it (billing.cancel_payment) or refund it.');
    END IF;
    PERFORM billing.check_money(NEW.amount, NEW.currency, format('payment %s of customer %s', NEW.payment_no, NEW.customer_id));
    NEW.recorded_at := clock_timestamp();  -- history goes by when pgbilling learned of it
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.payment_rules() IS
'Trigger: a payment fits its currency (23514), is stamped with the time it is recorded, and never changes (PB001).';

CREATE OR REPLACE TRIGGER t10_payment_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.payment
FOR EACH ROW EXECUTE FUNCTION billing.payment_rules();

CREATE OR REPLACE FUNCTION billing.payment_recorded() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO billing.payment_balance (customer_id, payment_id, amount) VALUES (NEW.customer_id, NEW.payment_id, NEW.amount);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.payment_recorded() IS 'Trigger after a payment is recorded: opens its balance row.';

CREATE OR REPLACE TRIGGER t20_payment_recorded
AFTER INSERT ON billing.payment
FOR EACH ROW EXECUTE FUNCTION billing.payment_recorded();

CREATE OR REPLACE TRIGGER t10_payment_balance_derived
BEFORE INSERT OR UPDATE OR DELETE ON billing.payment_balance
FOR EACH ROW EXECUTE FUNCTION billing.refuse_direct_change('payment_balance');

CREATE OR REPLACE FUNCTION billing.source_label(p_customer_id bigint, p_payment_id bigint, p_credit_note_id bigint)
RETURNS text
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF p_payment_id IS NULL THEN
        RETURN billing.document_label(p_customer_id, p_credit_note_id);
    END IF;
    RETURN coalesce(
        (SELECT format('payment %s of customer %s', p.payment_no, p.customer_id) FROM billing.payment AS p
         WHERE p.customer_id = p_customer_id AND p.payment_id = p_payment_id),
        format('payment id %s of customer %s', p_payment_id, p_customer_id));
END
$$;

COMMENT ON FUNCTION billing.source_label(bigint, bigint, bigint) IS
'How errors name a credit source: a payment or a credit note.';

CREATE OR REPLACE FUNCTION billing.allocation_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_source text;
    v_target text;
    v_original billing.allocation;
    v_source_left numeric;
    v_invoice_left numeric;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('allocation %s of customer %s is history: %s refused',
            OLD.allocation_id, OLD.customer_id, TG_OP), p_hint => 'Reverse it with billing.unallocate.');
    END IF;
    v_source := billing.source_label(NEW.customer_id, NEW.payment_id, NEW.credit_note_id);
    v_target := billing.document_label(NEW.customer_id, NEW.invoice_id);
    -- The source first, then the invoice: the lock order of every allocating path. The checks below run
    -- after the locks, so they see what a concurrent cancellation committed.
    IF NEW.payment_id IS NOT NULL THEN
        SELECT b.amount - b.allocated - b.refunded - b.voided INTO v_source_left FROM billing.payment_balance AS b
        WHERE b.customer_id = NEW.customer_id AND b.payment_id = NEW.payment_id
        FOR UPDATE;
    ELSE
        SELECT b.total - b.allocated - b.refunded INTO v_source_left FROM billing.invoice_balance AS b
        WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.credit_note_id
        FOR UPDATE;
    END IF;
    SELECT b.total - b.allocated INTO v_invoice_left FROM billing.invoice_balance AS b
    WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.invoice_id
    FOR UPDATE;
    -- Stamped once both rows are locked: whatever changed them before has an earlier stamp, so replaying the
    -- history in stamp order gives the balances as they were (point-in-time reports).
    NEW.allocated_at := clock_timestamp();
    IF EXISTS (
        SELECT FROM billing.invoice_cancellation AS ic WHERE ic.customer_id = NEW.customer_id AND ic.invoice_id = NEW.invoice_id
    ) THEN
        PERFORM billing.fail('55000', format('%s is canceled: its allocations no longer change', v_target),
            p_hint => 'Its void credit note settles it; apply payments elsewhere.');
    END IF;

    IF NEW.reverses_allocation_id IS NOT NULL THEN
        SELECT a.* INTO v_original FROM billing.allocation AS a
        WHERE a.customer_id = NEW.customer_id AND a.allocation_id = NEW.reverses_allocation_id;
        IF NOT FOUND THEN
            RETURN NEW;  -- the foreign key reports it
        END IF;
        IF v_original.reverses_allocation_id IS NOT NULL OR EXISTS (
            SELECT FROM billing.allocation AS r
            WHERE r.customer_id = NEW.customer_id AND r.reverses_allocation_id = NEW.reverses_allocation_id
        ) THEN
            PERFORM billing.fail('55000', format('allocation %s of customer %s is reversed already, or is a reversal',
                NEW.reverses_allocation_id, NEW.customer_id));
        END IF;
        -- A credit note settles the invoice it corrects for good: undone, its credit would be free to leave.
        IF EXISTS (
            SELECT FROM billing.invoice AS cn
            WHERE cn.customer_id = NEW.customer_id AND cn.invoice_id = v_original.credit_note_id
                AND cn.credited_invoice_id = v_original.invoice_id
        ) THEN
            PERFORM billing.fail('55000', format('allocation %s of customer %s applies %s to the invoice it corrects: '
                'it stands', NEW.reverses_allocation_id, NEW.customer_id, v_source),
                p_hint => 'Correct a credit note with a new invoice.');
        END IF;
        IF (NEW.invoice_id, NEW.payment_id, NEW.credit_note_id, NEW.currency, NEW.amount)
            IS DISTINCT FROM (v_original.invoice_id, v_original.payment_id, v_original.credit_note_id,
                v_original.currency, -v_original.amount) THEN
            PERFORM billing.fail('23514', format('a reversal of allocation %s must mirror it', v_original.allocation_id),
                'same invoice, source and currency, the negative amount', 'Use billing.unallocate.');
        END IF;
    ELSE
        PERFORM billing.check_money(NEW.amount, NEW.currency, format('allocation from %s to %s', v_source, v_target));
        IF EXISTS (
            SELECT FROM billing.invoice AS i
            WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id AND i.kind <> 'invoice'
        ) THEN
            PERFORM billing.fail('23503', format('%s is not an invoice: nothing can be allocated to it', v_target),
                p_hint => 'Apply a credit note to an invoice with billing.apply_credit_note.');
        END IF;
        IF EXISTS (
            SELECT FROM billing.invoice AS i
            WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id AND i.currency <> NEW.currency
        ) THEN
            PERFORM billing.fail('23503', format('%s is not in %s: %s cannot pay it', v_target, NEW.currency, v_source),
                p_hint => 'Allocate within one currency.');
        END IF;
        IF NOT EXISTS (
            SELECT FROM billing.invoice AS i
            WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id AND i.status = 'issued'
        ) AND EXISTS (
            SELECT FROM billing.invoice AS i WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id
        ) THEN
            PERFORM billing.fail('55000', format('%s is a draft: nothing can be allocated to it', v_target));
        END IF;
        IF EXISTS (
            SELECT FROM billing.payment_cancellation AS pc
            WHERE pc.customer_id = NEW.customer_id AND pc.payment_id = NEW.payment_id
        ) THEN
            PERFORM billing.fail('55000', format('%s is canceled: nothing can be allocated from it', v_source));
        END IF;
        IF EXISTS (
            SELECT FROM billing.invoice AS i
            WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.credit_note_id AND i.status <> 'issued'
        ) THEN
            PERFORM billing.fail('55000', format('%s is a draft: nothing can be allocated from it', v_source));
        END IF;
    END IF;

    IF NEW.amount > v_source_left THEN
        PERFORM billing.fail('23514', format('%s has %s left to allocate, not %s', v_source, v_source_left, NEW.amount));
    END IF;
    IF NEW.amount > v_invoice_left THEN
        PERFORM billing.fail('23514', format('%s has %s open, not %s', v_target, v_invoice_left, NEW.amount),
            p_hint => 'Allocate at most its open amount; the rest of the payment stays unapplied.');
    END IF;
    IF NEW.payment_id IS NOT NULL THEN
        UPDATE billing.payment_balance AS b SET allocated = b.allocated + NEW.amount
        WHERE b.customer_id = NEW.customer_id AND b.payment_id = NEW.payment_id;
    ELSE
        UPDATE billing.invoice_balance AS b SET allocated = b.allocated + NEW.amount
        WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.credit_note_id;
    END IF;
    UPDATE billing.invoice_balance AS b SET allocated = b.allocated + NEW.amount
    WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.invoice_id;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.allocation_rules() IS
'Trigger: an allocation goes to an issued invoice from an uncanceled payment or an issued credit note (55000), '
'fits the currency, and never exceeds what the source has left or the invoice has open (23514); a reversal '
'mirrors its original and happens once (55000); a canceled invoice''s allocations no longer change (55000). '
'Moves both balances; allocations never change (PB001).';

CREATE OR REPLACE TRIGGER t10_allocation_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.allocation
FOR EACH ROW EXECUTE FUNCTION billing.allocation_rules();

CREATE OR REPLACE FUNCTION billing.payment_cancellation_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('the cancellation of %s is history: %s refused',
            billing.source_label(OLD.customer_id, OLD.payment_id, NULL), TG_OP));
    END IF;
    -- The payment is locked before its allocations are read, so one committing concurrently is seen and reversed.
    PERFORM FROM billing.payment_balance AS b
    WHERE b.customer_id = NEW.customer_id AND b.payment_id = NEW.payment_id
    FOR UPDATE;
    IF EXISTS (
        SELECT FROM billing.payment_cancellation AS pc
        WHERE pc.customer_id = NEW.customer_id AND pc.payment_id = NEW.payment_id
    ) THEN
        PERFORM billing.fail('55000', format('%s is canceled already', billing.source_label(NEW.customer_id, NEW.payment_id, NULL)));
    END IF;
    -- Every allocation still standing is reversed, invoices in id order; the unallocated rest is voided.
    PERFORM billing.unallocate(a.customer_id, a.allocation_id, NEW.cancel_reason)
    FROM (
        SELECT a.customer_id, a.allocation_id FROM billing.active_allocation AS a
        WHERE a.customer_id = NEW.customer_id AND a.payment_id = NEW.payment_id
        ORDER BY a.invoice_id, a.allocation_id
    ) AS a;
    UPDATE billing.payment_balance AS b SET voided = b.amount - b.allocated - b.refunded
    WHERE b.customer_id = NEW.customer_id AND b.payment_id = NEW.payment_id;
    NEW.recorded_at := clock_timestamp();  -- after the reversals: point-in-time reports see them first
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.payment_cancellation_rules() IS
'Trigger: canceling a payment (once: 55000) reverses its allocations, so the invoices it paid are open again, and '
'voids its unallocated rest, stamping recorded_at after the reversals; a cancellation never changes (PB001).';

CREATE OR REPLACE TRIGGER t10_payment_cancellation_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.payment_cancellation
FOR EACH ROW EXECUTE FUNCTION billing.payment_cancellation_rules();

-- Public API

CREATE OR REPLACE FUNCTION billing.record_payment(
    p_customer_id bigint, p_currency text, p_amount numeric, p_method text, p_received_at timestamptz DEFAULT now(),
    p_payment_no text DEFAULT NULL, p_reference text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_method_id bigint;
    v_payment_id bigint;
    v_existing billing.payment;
BEGIN
    SELECT m.method_id INTO v_method_id FROM billing.payment_method AS m WHERE m.code = billing.require(p_method, 'p_method');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('payment method %L does not exist', left(p_method, 50)),
            p_hint => 'Use a code from billing.payment_method (CASH, CARD, ...).');
    END IF;
    -- An unknown currency code of another length would not fit char(3): looked up first (23503).
    PERFORM billing.minor_units(billing.require(p_currency, 'p_currency'));
    LOOP
        v_payment_id := nextval(pg_get_serial_sequence('billing.payment', 'payment_id'));
        -- ON CONFLICT waits for a concurrent insert of the same number, so a retry racing the original is safe.
        INSERT INTO billing.payment (customer_id, payment_id, payment_no, currency, amount, method_id, received_at, reference)
        OVERRIDING SYSTEM VALUE
        VALUES (billing.require(p_customer_id, 'p_customer_id'), v_payment_id, coalesce(p_payment_no, 'PAY-' || v_payment_id),
            billing.require(p_currency, 'p_currency'), billing.require(p_amount, 'p_amount'), v_method_id,
            coalesce(p_received_at, now()), p_reference)
        ON CONFLICT (customer_id, payment_no) DO NOTHING
        RETURNING payment_id INTO v_payment_id;
        IF FOUND THEN
            RETURN v_payment_id;
        END IF;
        -- A generated number the caller had used already: skipped, the next one is tried.
        EXIT WHEN p_payment_no IS NOT NULL;
    END LOOP;
    SELECT p.* INTO v_existing FROM billing.payment AS p WHERE p.customer_id = p_customer_id AND p.payment_no = p_payment_no;
    IF (v_existing.currency, v_existing.amount, v_existing.method_id)
        IS DISTINCT FROM (p_currency::char(3), p_amount, v_method_id) THEN
        PERFORM billing.fail('23505', format('payment number %L of customer %s is taken by a different payment',
            p_payment_no, p_customer_id),
            format('recorded: %s %s by %s', v_existing.amount, v_existing.currency,
                (SELECT m.code FROM billing.payment_method AS m WHERE m.method_id = v_existing.method_id)),
            'A retry must repeat currency, amount and method; a new payment needs a new number.');
    END IF;
    RETURN v_existing.payment_id;
END
$$;

COMMENT ON FUNCTION billing.record_payment(bigint, text, numeric, text, timestamptz, text, text) IS
'Records a payment (p_method is a payment_method code) and returns its id; p_payment_no defaults to PAY-<id> '
'(an id whose PAY-<id> the caller has used already is skipped), '
'p_received_at (NULL too) to now(). '
'Idempotent on the customer''s payment number: the same number with the same currency, amount and method returns '
'the payment recorded first; with other content it is refused (23505).';

CREATE OR REPLACE FUNCTION billing.allocate(
    p_customer_id bigint, p_payment_id bigint, p_credit_note_id bigint, p_invoice_id bigint, p_amount numeric,
    p_reason text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_currency text;
    v_source_left numeric;
    v_invoice_left numeric;
    v_allocation_id bigint;
BEGIN
    PERFORM billing.require(p_customer_id, 'p_customer_id'), billing.require(p_invoice_id, 'p_invoice_id');
    IF p_payment_id IS NOT NULL THEN
        SELECT p.currency, b.amount - b.allocated - b.refunded - b.voided INTO v_currency, v_source_left
        FROM billing.payment AS p
        JOIN billing.payment_balance AS b ON b.customer_id = p.customer_id AND b.payment_id = p.payment_id
        WHERE p.customer_id = p_customer_id AND p.payment_id = p_payment_id
        FOR UPDATE OF b;
    ELSE
        SELECT i.currency, b.total - b.allocated - b.refunded INTO v_currency, v_source_left
        FROM billing.invoice AS i
        JOIN billing.invoice_balance AS b ON b.customer_id = i.customer_id AND b.invoice_id = i.invoice_id
        WHERE i.customer_id = p_customer_id AND i.invoice_id = billing.require(p_credit_note_id, 'p_credit_note_id')
            AND i.kind = 'credit_note'
        FOR UPDATE OF b;
    END IF;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('%s does not exist (as a credit source)',
            billing.source_label(p_customer_id, p_payment_id, p_credit_note_id)));
    END IF;
    -- Only an invoice in the source's currency limits the amount; another target the rules refuse (23503).
    SELECT b.total - b.allocated INTO v_invoice_left
    FROM billing.invoice_balance AS b
    JOIN billing.invoice AS i ON i.customer_id = b.customer_id AND i.invoice_id = b.invoice_id
    WHERE b.customer_id = p_customer_id AND b.invoice_id = p_invoice_id AND i.kind = 'invoice' AND i.currency = v_currency
    FOR UPDATE OF b;
    IF p_amount IS NULL AND least(v_source_left, v_invoice_left) = 0 THEN
        PERFORM billing.fail('55000', format('nothing to allocate from %s to %s',
            billing.source_label(p_customer_id, p_payment_id, p_credit_note_id), billing.document_label(p_customer_id, p_invoice_id)),
            format('left to allocate %s, open %s', v_source_left, v_invoice_left));
    END IF;
    INSERT INTO billing.allocation (customer_id, currency, invoice_id, payment_id, credit_note_id, amount, reason)
    VALUES (p_customer_id, v_currency, p_invoice_id, p_payment_id, p_credit_note_id,
        coalesce(p_amount, least(v_source_left, coalesce(v_invoice_left, v_source_left))), p_reason)
    RETURNING allocation_id INTO v_allocation_id;
    RETURN v_allocation_id;
END
$$;

COMMENT ON FUNCTION billing.allocate(bigint, bigint, bigint, bigint, numeric, text) IS
'Internal to the allocating functions: applies p_amount (default: as much as both sides allow) of a payment or a '
'credit note to an invoice, locking the source before the invoice.';

CREATE OR REPLACE FUNCTION billing.allocate_payment(
    p_customer_id bigint, p_payment_id bigint, p_invoice_id bigint, p_amount numeric DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN billing.allocate(p_customer_id, billing.require(p_payment_id, 'p_payment_id'), NULL, p_invoice_id, p_amount);
END
$$;

COMMENT ON FUNCTION billing.allocate_payment(bigint, bigint, bigint, numeric) IS
'Applies a payment to an invoice of the same customer and currency: p_amount, or as much as both allow; returns '
'the allocation id. More than the payment has left or the invoice has open: 23514; nothing to allocate: 55000.';

CREATE OR REPLACE FUNCTION billing.apply_credit_note(
    p_customer_id bigint, p_credit_note_id bigint, p_invoice_id bigint, p_amount numeric DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN billing.allocate(p_customer_id, NULL, billing.require(p_credit_note_id, 'p_credit_note_id'), p_invoice_id,
        p_amount);
END
$$;

COMMENT ON FUNCTION billing.apply_credit_note(bigint, bigint, bigint, numeric) IS
'Applies the unapplied rest of a credit note (open customer credit) to an invoice; returns the allocation id.';

CREATE OR REPLACE FUNCTION billing.unallocate(p_customer_id bigint, p_allocation_id bigint, p_reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_original billing.allocation;
    v_reversal_id bigint;
BEGIN
    SELECT a.* INTO v_original FROM billing.allocation AS a
    WHERE a.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND a.allocation_id = billing.require(p_allocation_id, 'p_allocation_id');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('allocation %s of customer %s does not exist', p_allocation_id, p_customer_id));
    END IF;
    INSERT INTO billing.allocation (
        customer_id, currency, invoice_id, payment_id, credit_note_id, amount, reverses_allocation_id, reason
    ) VALUES (
        p_customer_id, v_original.currency, v_original.invoice_id, v_original.payment_id, v_original.credit_note_id,
        -v_original.amount, p_allocation_id, p_reason
    ) RETURNING allocation_id INTO v_reversal_id;
    RETURN v_reversal_id;
END
$$;

COMMENT ON FUNCTION billing.unallocate(bigint, bigint, text) IS
'Reverses an allocation by appending a reversing entry (returned); the invoice is open again by that amount and '
'the source has it back. Twice, or a reversal: 55000.';

CREATE OR REPLACE FUNCTION billing.payment_return_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_payment record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('the return of %s is history: %s refused',
            billing.source_label(OLD.customer_id, OLD.payment_id, NULL), TG_OP));
    END IF;
    SELECT p.payment_no, p.currency, b.refunded INTO v_payment
    FROM billing.payment AS p
    JOIN billing.payment_balance AS b ON b.customer_id = p.customer_id AND b.payment_id = p.payment_id
    WHERE p.customer_id = NEW.customer_id AND p.payment_id = NEW.payment_id
    FOR UPDATE OF b;
    IF NOT FOUND THEN
        RETURN NEW;  -- the foreign key names it
    END IF;
    IF EXISTS (
        SELECT FROM billing.payment_return AS r WHERE r.customer_id = NEW.customer_id AND r.payment_id = NEW.payment_id
    ) THEN
        PERFORM billing.fail('55000', format('%s is returned already', billing.source_label(NEW.customer_id, NEW.payment_id, NULL)));
    END IF;
    -- A return cancels the payment (its allocations reversed, its unapplied rest voided), unless canceling its
    -- order did already.
    IF NOT EXISTS (
        SELECT FROM billing.payment_cancellation AS c WHERE c.customer_id = NEW.customer_id AND c.payment_id = NEW.payment_id
    ) THEN
        INSERT INTO billing.payment_cancellation (customer_id, payment_id, canceled_time, cancel_reason)
        VALUES (NEW.customer_id, NEW.payment_id, now(), NEW.reason);
    END IF;
    -- What was refunded out of it left as cash that never came in: the customer owes it, billed as a fee (a
    -- receivable like any other, in aging and statements).
    IF v_payment.refunded > 0 THEN
        NEW.invoice_id := billing.issue_new_invoice(NEW.customer_id, v_payment.currency, jsonb_build_array(
            jsonb_build_object('type', 'fee', 'fee_code', 'RETURNED_PAYMENT', 'amount', v_payment.refunded,
                'description', left(format('payment %s returned (%s) after %s %s of it was refunded',
                    v_payment.payment_no, NEW.reason, v_payment.refunded, v_payment.currency), 2000))));
    END IF;
    NEW.returned_at := clock_timestamp();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.payment_return_rules() IS
'Trigger: a payment is returned once (55000); the return cancels it unless that was done already, and bills what '
'had been refunded out of it on a new invoice (fee RETURNED_PAYMENT, invoice_id); a return never changes (PB001).';

CREATE OR REPLACE TRIGGER t10_payment_return_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.payment_return
FOR EACH ROW EXECUTE FUNCTION billing.payment_return_rules();

CREATE OR REPLACE FUNCTION billing.cancel_payment(p_customer_id bigint, p_payment_id bigint, p_reason text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM billing.payment AS p
        WHERE p.customer_id = billing.require(p_customer_id, 'p_customer_id')
            AND p.payment_id = billing.require(p_payment_id, 'p_payment_id')
    ) THEN
        PERFORM billing.fail('23503', format('payment %s of customer %s does not exist', p_payment_id, p_customer_id));
    END IF;
    -- A bounce is a fact from the bank, never refused but once: recorded even when canceling the payment's order
    -- refunded and canceled it before.
    INSERT INTO billing.payment_return (customer_id, payment_id, reason)  -- returned_at: stamped by its trigger
    VALUES (p_customer_id, p_payment_id, billing.require(p_reason, 'p_reason'));
END
$$;

COMMENT ON FUNCTION billing.cancel_payment(bigint, bigint, text) IS
'Records that the bank returned a payment (bounced, charged back: billing.payment_return) and cancels it: its '
'allocations are reversed, so the invoices it paid are open again, and its unapplied rest voided, with the time '
'and reason; what was refunded out of it already is billed to the customer on a new invoice (fee '
'RETURNED_PAYMENT). A payment its order''s cancellation refunded and canceled can still be returned. Twice: 55000.';
