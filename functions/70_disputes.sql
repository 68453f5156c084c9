-- Public API and rules: disputing an issued invoice and resolving the dispute.

CREATE OR REPLACE FUNCTION billing.invoice_dispute_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (
            SELECT FROM billing.invoice AS i
            WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id AND i.kind = 'invoice' AND i.status = 'issued'
        ) AND EXISTS (SELECT FROM billing.invoice AS i WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.invoice_id) THEN
            PERFORM billing.fail('55000', format('%s cannot be disputed: only an issued invoice can',
                billing.document_label(NEW.customer_id, NEW.invoice_id)));
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' OR OLD.resolved_at IS NOT NULL THEN
        PERFORM billing.fail('PB001', format('dispute %s of %s is history: %s refused', OLD.dispute_no,
            billing.document_label(OLD.customer_id, OLD.invoice_id), TG_OP));
    END IF;
    IF (NEW.customer_id, NEW.invoice_id, NEW.dispute_no, NEW.opened_at, NEW.reason)
        IS DISTINCT FROM (OLD.customer_id, OLD.invoice_id, OLD.dispute_no, OLD.opened_at, OLD.reason) THEN
        PERFORM billing.fail('55000', format('dispute %s of %s: only its resolution can be recorded', OLD.dispute_no,
            billing.document_label(OLD.customer_id, OLD.invoice_id)));
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.invoice_dispute_rules() IS
'Trigger: only an issued invoice can be disputed (55000); an open dispute takes only its resolution (55000); '
'a resolved dispute, and deleting one, is refused (PB001).';

CREATE OR REPLACE TRIGGER t10_invoice_dispute_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.invoice_dispute
FOR EACH ROW EXECUTE FUNCTION billing.invoice_dispute_rules();

CREATE OR REPLACE FUNCTION billing.dispute_invoice(p_customer_id bigint, p_invoice_id bigint, p_reason text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_dispute_no integer;
BEGIN
    SELECT coalesce(max(d.dispute_no), 0) + 1 INTO v_dispute_no FROM billing.invoice_dispute AS d
    WHERE d.customer_id = p_customer_id AND d.invoice_id = p_invoice_id;
    INSERT INTO billing.invoice_dispute (customer_id, invoice_id, dispute_no, reason)
    VALUES (billing.require(p_customer_id, 'p_customer_id'), billing.require(p_invoice_id, 'p_invoice_id'),
        v_dispute_no, billing.require(p_reason, 'p_reason'));
END
$$;

COMMENT ON FUNCTION billing.dispute_invoice(bigint, bigint, text) IS
'Marks an issued invoice disputed, with a reason and the time. Already disputed (an open dispute): 23505.';

CREATE OR REPLACE FUNCTION billing.resolve_dispute(p_customer_id bigint, p_invoice_id bigint, p_note text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM billing.invoice AS i
        WHERE i.customer_id = billing.require(p_customer_id, 'p_customer_id')
            AND i.invoice_id = billing.require(p_invoice_id, 'p_invoice_id')
    ) THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    END IF;
    UPDATE billing.invoice_dispute AS d SET resolved_at = now(), resolution_note = p_note
    WHERE d.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND d.invoice_id = billing.require(p_invoice_id, 'p_invoice_id') AND d.resolved_at IS NULL;
    IF NOT FOUND THEN
        PERFORM billing.fail('55000', format('%s is not disputed', billing.document_label(p_customer_id, p_invoice_id)));
    END IF;
END
$$;

COMMENT ON FUNCTION billing.resolve_dispute(bigint, bigint, text) IS
'Resolves the open dispute of an invoice, recording the time and an optional note. Not disputed: 55000; no such '
'invoice of the customer: 23503.';
