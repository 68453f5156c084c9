-- Refunds out of open credit, and write-offs of invoice amounts that will never be collected.

CREATE OR REPLACE FUNCTION billing.refund_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('refund %s of customer %s is history: %s refused',
            OLD.refund_id, OLD.customer_id, TG_OP));
    END IF;
    PERFORM billing.check_money(NEW.amount, NEW.currency, format('refund to customer %s', NEW.customer_id));
    NEW.recorded_at := clock_timestamp();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.refund_rules() IS
'Trigger: a refund fits its currency (23514), is stamped with the time it is recorded, and never changes (PB001).';

CREATE OR REPLACE FUNCTION billing.refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.fail('PB001', format('billing.%s rows are history: %s refused', TG_ARGV[0], TG_OP));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.refuse_change() IS
'Row trigger for append-only history (its argument: the table''s name): UPDATE and DELETE are refused (PB001).';

CREATE OR REPLACE FUNCTION billing.refund_part_booked() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_left numeric;
BEGIN
    IF NEW.payment_id IS NULL THEN
        PERFORM billing.fail('55000', format('%s is not cash: its credit settles invoices and is never paid out',
            billing.source_label(NEW.customer_id, NEW.payment_id, NEW.credit_note_id)),
            p_hint => 'Refund from a payment''s open credit (billing.refund).');
    ELSE
        SELECT b.amount - b.allocated - b.refunded - b.voided INTO v_left FROM billing.payment_balance AS b
        WHERE b.customer_id = NEW.customer_id AND b.payment_id = NEW.payment_id
        FOR UPDATE;
    END IF;
    IF NEW.amount > v_left THEN
        PERFORM billing.fail('23514', format('refund %s would take %s from %s, which has %s of open credit',
            NEW.refund_id, NEW.amount, billing.source_label(NEW.customer_id, NEW.payment_id, NEW.credit_note_id), v_left));
    END IF;
    UPDATE billing.payment_balance AS b SET refunded = b.refunded + NEW.amount
    WHERE b.customer_id = NEW.customer_id AND b.payment_id = NEW.payment_id;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.refund_part_booked() IS
'Trigger after a refund part: takes it from the payment''s open credit, never more (23514); a credit note is '
'never a source of cash (55000).';

CREATE OR REPLACE FUNCTION billing.refund_complete() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_parts numeric;
BEGIN
    SELECT coalesce(sum(p.amount), 0) INTO v_parts FROM billing.refund_part AS p
    WHERE p.customer_id = NEW.customer_id AND p.refund_id = NEW.refund_id;
    IF v_parts <> NEW.amount THEN
        PERFORM billing.fail('23514', format('refund %s of customer %s is %s but its parts add up to %s',
            NEW.refund_id, NEW.customer_id, NEW.amount, v_parts), p_hint => 'Use billing.refund.');
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.refund_complete() IS
'Constraint trigger at commit: a refund''s parts add up to its amount (23514).';

CREATE OR REPLACE FUNCTION billing.write_off_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_open numeric;
    v_original billing.write_off;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('write-off %s of customer %s is history: %s refused',
            OLD.write_off_id, OLD.customer_id, TG_OP));
    END IF;
    IF NEW.reverses_write_off_id IS NOT NULL THEN
        SELECT w.* INTO v_original FROM billing.write_off AS w
        WHERE w.customer_id = NEW.customer_id AND w.write_off_id = NEW.reverses_write_off_id;
        IF FOUND AND (v_original.reverses_write_off_id IS NOT NULL
            OR (NEW.invoice_id, NEW.currency, NEW.amount) IS DISTINCT FROM (v_original.invoice_id, v_original.currency, -v_original.amount)) THEN
            PERFORM billing.fail('23514', format('a reversal of write-off %s must mirror it', NEW.reverses_write_off_id));
        END IF;
    END IF;
    PERFORM billing.check_money(NEW.amount, NEW.currency,
        format('write-off of %s', billing.document_label(NEW.customer_id, NEW.invoice_id)));
    SELECT b.total - b.allocated INTO v_open FROM billing.invoice_balance AS b
    WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.invoice_id
    FOR UPDATE;
    NEW.written_off_at := clock_timestamp();  -- once the invoice is locked, as allocation_rules does
    IF v_open IS NULL AND EXISTS (SELECT FROM billing.invoice AS i WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id) THEN
        PERFORM billing.fail('55000', format('%s is a draft: nothing to write off', billing.document_label(NEW.customer_id, NEW.invoice_id)));
    END IF;
    IF NEW.amount > 0 AND EXISTS (
        SELECT FROM billing.invoice_cancellation AS c WHERE c.customer_id = NEW.customer_id AND c.invoice_id = NEW.invoice_id
    ) THEN
        PERFORM billing.fail('55000', format('%s is canceled: nothing to write off', billing.document_label(NEW.customer_id, NEW.invoice_id)));
    END IF;
    IF NEW.amount > v_open THEN
        PERFORM billing.fail('23514', format('%s has %s open: %s cannot be written off',
            billing.document_label(NEW.customer_id, NEW.invoice_id), v_open, NEW.amount));
    END IF;
    UPDATE billing.invoice_balance AS b SET allocated = b.allocated + NEW.amount
    WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.invoice_id;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.write_off_rules() IS
'Trigger: a write-off takes at most the open amount of an issued, uncanceled invoice (23514; draft or canceled: '
'55000) and settles it; a reversal mirrors its original (23514); neither ever changes (PB001).';

CREATE OR REPLACE TRIGGER t10_refund_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.refund
FOR EACH ROW EXECUTE FUNCTION billing.refund_rules();

CREATE OR REPLACE TRIGGER t10_refund_part_rules
BEFORE UPDATE OR DELETE ON billing.refund_part
FOR EACH ROW EXECUTE FUNCTION billing.refuse_change('refund_part');

CREATE OR REPLACE TRIGGER t20_refund_part_booked
AFTER INSERT ON billing.refund_part
FOR EACH ROW EXECUTE FUNCTION billing.refund_part_booked();

DROP TRIGGER IF EXISTS t30_refund_complete ON billing.refund;
CREATE CONSTRAINT TRIGGER t30_refund_complete
AFTER INSERT ON billing.refund
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION billing.refund_complete();

CREATE OR REPLACE TRIGGER t10_write_off_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.write_off
FOR EACH ROW EXECUTE FUNCTION billing.write_off_rules();

-- Public API

CREATE OR REPLACE FUNCTION billing.refund(
    p_customer_id bigint, p_currency text, p_amount numeric, p_method text, p_reason text DEFAULT NULL,
    p_payment_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_method_id bigint;
    v_refund_id bigint;
    v_left numeric := billing.require(p_amount, 'p_amount');
    v_part integer := 0;
    v_payment_ids bigint[];
    r record;
BEGIN
    SELECT m.method_id INTO v_method_id FROM billing.payment_method AS m WHERE m.code = billing.require(p_method, 'p_method');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('payment method %L does not exist', left(p_method, 50)),
            p_hint => 'Use a code from billing.payment_method (CASH, CARD, ...).');
    END IF;
    PERFORM billing.minor_units(billing.require(p_currency, 'p_currency'));
    IF p_payment_id IS NOT NULL THEN
        -- The named payment: the customer's (23503), not canceled (55000), in this currency (23503).
        IF (SELECT l.currency FROM billing.lock_payment(p_customer_id, p_payment_id) AS l) <> p_currency THEN
            PERFORM billing.fail('23503', format('%s is not in %s', billing.source_label(p_customer_id, p_payment_id, NULL),
                p_currency), p_hint => 'Refund a payment in its own currency.');
        END IF;
    END IF;
    -- Only cash paid in is paid out: the sources are payments' open credit (a credit note's credit settles
    -- invoices, never leaves as cash). They are locked in one statement, in id order, and only those are used,
    -- oldest first: a payment that became open since is left alone rather than locked out of order.
    SELECT array_agg(s.payment_id) INTO v_payment_ids FROM (
        SELECT b.payment_id FROM billing.payment_balance AS b
        JOIN billing.payment AS p ON p.customer_id = b.customer_id AND p.payment_id = b.payment_id
        WHERE b.customer_id = billing.require(p_customer_id, 'p_customer_id') AND p.currency = p_currency
            AND b.amount - b.allocated - b.refunded - b.voided > 0
            AND (p_payment_id IS NULL OR b.payment_id = p_payment_id)
        ORDER BY b.payment_id
        FOR UPDATE OF b
    ) AS s;
    -- Recorded once its sources are locked, so its stamp follows every change to them it waited for.
    INSERT INTO billing.refund (customer_id, currency, amount, method_id, reason)
    VALUES (p_customer_id, p_currency, p_amount, v_method_id, p_reason)
    RETURNING refund_id INTO v_refund_id;
    FOR r IN
        SELECT p.payment_id, b.amount - b.allocated - b.refunded - b.voided AS open_credit
        FROM billing.payment_balance AS b
        JOIN billing.payment AS p ON p.customer_id = b.customer_id AND p.payment_id = b.payment_id
        WHERE b.customer_id = p_customer_id AND b.payment_id = ANY(v_payment_ids)
            AND b.amount - b.allocated - b.refunded - b.voided > 0
        ORDER BY p.recorded_at, p.payment_id
    LOOP
        EXIT WHEN v_left = 0;
        v_part := v_part + 1;
        INSERT INTO billing.refund_part (customer_id, refund_id, part_no, currency, payment_id, amount)
        VALUES (p_customer_id, v_refund_id, v_part, p_currency, r.payment_id, least(v_left, r.open_credit));
        v_left := v_left - least(v_left, r.open_credit);
    END LOOP;
    IF v_left > 0 THEN
        PERFORM billing.fail('23514', format('customer %s has %s %s less open credit than the %s %s to refund',
            p_customer_id, v_left, p_currency, p_amount, p_currency),
            CASE WHEN p_payment_id IS NOT NULL THEN format('from payment %s only', p_payment_id) END,
            'Refund at most the open credit (billing.customer_balance, billing.payment_summary).');
    END IF;
    RETURN v_refund_id;
END
$$;

COMMENT ON FUNCTION billing.refund(bigint, text, numeric, text, text, bigint) IS
'Pays money back to the customer out of cash paid in: from p_payment_id''s unapplied rest, or else from the '
'customer''s payments with unapplied rest in that currency, oldest first. Never more than that (23514); a credit '
'note''s credit is never paid out (it settles invoices, and what it releases of a payment is that payment''s).';

CREATE OR REPLACE FUNCTION billing.write_off(
    p_customer_id bigint, p_invoice_id bigint, p_amount numeric DEFAULT NULL, p_reason text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_currency text;
    v_open numeric;
    v_write_off_id bigint;
BEGIN
    SELECT i.currency, b.total - b.allocated INTO v_currency, v_open
    FROM billing.invoice AS i
    LEFT JOIN billing.invoice_balance AS b ON b.customer_id = i.customer_id AND b.invoice_id = i.invoice_id
    WHERE i.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND i.invoice_id = billing.require(p_invoice_id, 'p_invoice_id');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    END IF;
    IF p_amount IS NULL AND v_open = 0 THEN
        PERFORM billing.fail('55000', format('%s has nothing open to write off', billing.document_label(p_customer_id, p_invoice_id)));
    END IF;
    INSERT INTO billing.write_off (customer_id, currency, invoice_id, amount, reason)
    VALUES (p_customer_id, v_currency, p_invoice_id, coalesce(p_amount, v_open), p_reason)
    RETURNING write_off_id INTO v_write_off_id;
    RETURN v_write_off_id;
END
$$;

COMMENT ON FUNCTION billing.write_off(bigint, bigint, numeric, text) IS
'Writes off p_amount (default: all that is open) of an issued invoice as never to be collected; returns the '
'write-off id. More than is open: 23514.';
