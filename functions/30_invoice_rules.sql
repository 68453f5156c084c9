-- Rules on invoices, credit notes and their lines, as triggers: drafts are free, issuing validates and
-- numbers a document and updates the running totals, an issued document never changes.

CREATE OR REPLACE FUNCTION billing.invoice_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_credited billing.invoice;
    v_lines integer;
    v_total numeric;
    v_missing integer [];
    v_prefix text;
    v_scope text;
    v_no bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            PERFORM billing.fail('55000', format('a %s is inserted as a draft', replace(NEW.kind, '_', ' ')),
                format('status %L given', NEW.status), 'Insert it, add its lines, then issue it (billing.issue_invoice).');
        END IF;
        IF NEW.kind = 'credit_note' THEN
            SELECT i.* INTO v_credited FROM billing.invoice AS i
            WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.credited_invoice_id;
            IF FOUND AND (v_credited.kind <> 'invoice' OR v_credited.status <> 'issued') THEN
                PERFORM billing.fail('55000', format('%s cannot be credited: only an issued invoice can',
                    billing.document_label(NEW.customer_id, NEW.credited_invoice_id)));
            END IF;
            IF FOUND AND v_credited.currency <> NEW.currency THEN
                PERFORM billing.fail('23514', format('a credit note of %s must be in %s',
                    billing.document_label(NEW.customer_id, NEW.credited_invoice_id), v_credited.currency),
                    format('currency %s given', NEW.currency));
            END IF;
        END IF;
        RETURN NEW;
    END IF;

    IF OLD.status = 'issued' THEN
        PERFORM billing.fail('PB001', format('%s is issued and never changes: %s refused',
            billing.document_label(OLD.customer_id, OLD.invoice_id), TG_OP),
            p_hint => 'Correct it with a credit note (billing.issue_credit_note) and a new invoice.');
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (NEW.customer_id, NEW.invoice_id, NEW.kind, NEW.currency, NEW.credited_invoice_id)
        IS DISTINCT FROM (OLD.customer_id, OLD.invoice_id, OLD.kind, OLD.currency, OLD.credited_invoice_id) THEN
        PERFORM billing.fail('55000', format('%s: customer, kind, currency and credited invoice never change',
            billing.document_label(OLD.customer_id, OLD.invoice_id)), p_hint => 'Delete the draft and create another.');
    END IF;
    IF NEW.status = 'draft' THEN
        RETURN NEW;
    END IF;

    -- Issuing: the document must be complete; then it gets its total and the next number of its series.
    IF NEW.kind = 'invoice' THEN
        -- A subtype row can only be of its line's line_type (their foreign key carries it).
        SELECT count(*), sum(l.amount),
            array_agg(l.line_no ORDER BY l.line_no)
            FILTER (WHERE coalesce(p.line_no, f.line_no, d.line_no, t.line_no, m.line_no) IS NULL)
        INTO v_lines, v_total, v_missing
        FROM billing.invoice_line AS l
        LEFT JOIN billing.invoice_product_line AS p USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_fee_line AS f USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_discount_line AS d USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_tax_line AS t USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_memo_line AS m USING (customer_id, invoice_id, line_no)
        WHERE l.customer_id = NEW.customer_id AND l.invoice_id = NEW.invoice_id;
    ELSE
        SELECT count(*), sum(l.amount) INTO v_lines, v_total
        FROM billing.credit_note_line AS l
        WHERE l.customer_id = NEW.customer_id AND l.credit_note_id = NEW.invoice_id;
    END IF;
    IF v_lines = 0 THEN
        PERFORM billing.fail('55000', format('%s has no lines: it cannot be issued',
            billing.document_label(NEW.customer_id, NEW.invoice_id)), p_hint => 'Add lines first.');
    END IF;
    IF v_missing IS NOT NULL THEN
        PERFORM billing.fail('55000', format('%s cannot be issued: lines %s lack their subtype row',
            billing.document_label(NEW.customer_id, NEW.invoice_id), array_to_string(v_missing, ', ')),
            p_hint => 'Insert the matching invoice_product_line, invoice_fee_line, ... row for each line.');
    END IF;
    -- Orders and prices may have changed since the lines were written: check every line again.
    IF NEW.kind = 'invoice' THEN
        PERFORM billing.validate_lines(NEW.customer_id, NEW.invoice_id);
    END IF;
    -- The number last: the series row stays locked until commit, so the lock is held as briefly as can be.
    SELECT s.prefix, s.scope INTO v_prefix, v_scope FROM billing.document_series AS s WHERE s.series = NEW.kind;
    IF v_scope = 'per_customer' THEN
        -- The customer's own series: customers do not wait for each other, and nothing outside the customer's
        -- rows is written (sharding by customer).
        -- (a series added after the customer has no row yet: it starts at 1)
        INSERT INTO billing.customer_document_series (customer_id, series, next_no)
        VALUES (NEW.customer_id, NEW.kind, 1)
        ON CONFLICT (customer_id, series) DO NOTHING;
        UPDATE billing.customer_document_series AS s SET next_no = s.next_no + 1
        WHERE s.customer_id = NEW.customer_id AND s.series = NEW.kind
        RETURNING s.next_no - 1 INTO v_no;
        v_prefix := v_prefix || '-' || NEW.customer_id;
    ELSE
        UPDATE billing.document_series AS s SET next_no = s.next_no + 1
        WHERE s.series = NEW.kind
        RETURNING s.next_no - 1 INTO v_no;
    END IF;
    NEW.total := v_total;
    NEW.invoice_no := v_prefix || '-' || lpad(v_no::text, greatest(6, length(v_no::text)), '0');
    NEW.issued_at := clock_timestamp();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.invoice_rules() IS
'Trigger: documents are inserted as drafts; a credit note credits an issued invoice in its currency; an issued '
'document refuses UPDATE and DELETE (PB001); issuing needs lines, each with its subtype row (55000), and sets '
'total, issued_at and the next gapless number of the series: PREFIX-000001, or PREFIX-<customer_id>-000001 when '
'the series is kept per customer (document_series.scope).';

CREATE OR REPLACE TRIGGER t10_invoice_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.invoice
FOR EACH ROW EXECUTE FUNCTION billing.invoice_rules();

DROP FUNCTION IF EXISTS billing.has_subtype(billing.invoice_line);  -- a join in invoice_rules now

CREATE OR REPLACE FUNCTION billing.bill_order_item(
    p_customer_id bigint, p_order_id bigint, p_item_no integer, p_is_charge boolean, p_delta numeric, p_document text
) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_limit numeric;
    v_billed numeric;
BEGIN
    -- Locks the order line (or charge) row: concurrent issuers of the same item wait here, then see the new total.
    IF p_is_charge THEN
        SELECT c.amount, c.billed_amount INTO v_limit, v_billed FROM billing.order_charge AS c
        WHERE c.customer_id = p_customer_id AND c.order_id = p_order_id AND c.charge_no = p_item_no
        FOR NO KEY UPDATE;
    ELSE
        SELECT l.quantity, l.billed_quantity INTO v_limit, v_billed FROM billing.order_line AS l
        WHERE l.customer_id = p_customer_id AND l.order_id = p_order_id AND l.line_no = p_item_no
        FOR NO KEY UPDATE;
    END IF;
    IF v_billed + p_delta > v_limit THEN
        PERFORM billing.fail('23514', format('%s would over-bill %s %s of order %s of customer %s',
            p_document, CASE WHEN p_is_charge THEN 'charge' ELSE 'order line' END, p_item_no, p_order_id, p_customer_id),
            format('%s ordered, %s already billed, %s more on this document', v_limit, v_billed, p_delta),
            'Bill at most what is still unbilled (billing.order_summary).');
    END IF;
    IF p_is_charge THEN
        UPDATE billing.order_charge AS c SET billed_amount = c.billed_amount + p_delta
        WHERE c.customer_id = p_customer_id AND c.order_id = p_order_id AND c.charge_no = p_item_no;
    ELSE
        UPDATE billing.order_line AS l SET billed_quantity = l.billed_quantity + p_delta
        WHERE l.customer_id = p_customer_id AND l.order_id = p_order_id AND l.line_no = p_item_no;
    END IF;
END
$$;

COMMENT ON FUNCTION billing.bill_order_item(bigint, bigint, integer, boolean, numeric, text) IS
'Adds p_delta to the billed part of an order line (quantity) or charge (amount), refusing over-billing (23514). '
'Called by the issue trigger only; negative deltas give back what credit notes credit.';

CREATE OR REPLACE FUNCTION billing.invoice_issued() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_doc text := billing.document_label(NEW.customer_id, NEW.invoice_id);
    v_balance billing.invoice_balance;
    v_canceled bigint;
    v_expected numeric;
    r record;
BEGIN
    IF NEW.kind = 'invoice' THEN
        INSERT INTO billing.invoice_balance (customer_id, invoice_id, total) VALUES (NEW.customer_id, NEW.invoice_id, NEW.total);
        -- The orders billed are locked (in key order) before their lines: a concurrent cancel_order either
        -- commits first, and this issue then sees the order canceled, or waits and then voids this invoice.
        SELECT max(o.order_id) FILTER (WHERE o.is_canceled) INTO v_canceled
        FROM (
            SELECT o.order_id, o.is_canceled FROM billing.sales_order AS o
            WHERE o.customer_id = NEW.customer_id AND o.order_id IN (
                SELECT p.order_id FROM billing.invoice_product_line AS p
                WHERE p.customer_id = NEW.customer_id AND p.invoice_id = NEW.invoice_id
                UNION
                SELECT f.order_id FROM billing.invoice_fee_line AS f
                WHERE f.customer_id = NEW.customer_id AND f.invoice_id = NEW.invoice_id
            )
            ORDER BY o.order_id
            FOR SHARE
        ) AS o;
        IF v_canceled IS NOT NULL THEN
            PERFORM billing.fail('55000', format('%s bills order %s of customer %s, which is canceled',
                v_doc, v_canceled, NEW.customer_id), p_hint => 'Remove its lines from the draft.');
        END IF;
    ELSE
        SELECT b.* INTO v_balance FROM billing.invoice_balance AS b
        WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.credited_invoice_id
        FOR UPDATE;
        IF v_balance.credited + NEW.total > v_balance.total THEN
            PERFORM billing.fail('23514', format('%s would credit more than %s billed', v_doc,
                billing.document_label(NEW.customer_id, NEW.credited_invoice_id)),
                format('total %s, already credited %s, this credit note %s', v_balance.total, v_balance.credited, NEW.total));
        END IF;
        UPDATE billing.invoice_balance AS b SET credited = b.credited + NEW.total
        WHERE b.customer_id = NEW.customer_id AND b.invoice_id = NEW.credited_invoice_id;
        -- The credit note's own balance: what of it is applied to invoices or refunded.
        INSERT INTO billing.invoice_balance (customer_id, invoice_id, total) VALUES (NEW.customer_id, NEW.invoice_id, NEW.total);
        -- Per line, over all issued credit notes (the invoice's balance row lock serializes them).
        FOR r IN
            SELECT l.line_no, l.quantity, l.amount,
                coalesce(sum(c.quantity), 0) AS credited_quantity, sum(c.amount) AS credited_amount,
                sum(c.quantity) FILTER (WHERE c.credit_note_id = NEW.invoice_id) AS this_quantity,
                sum(c.amount) FILTER (WHERE c.credit_note_id = NEW.invoice_id) AS this_amount
            FROM billing.invoice_line AS l
            JOIN billing.credit_note_line AS c
                ON c.customer_id = l.customer_id AND c.credited_invoice_id = l.invoice_id AND c.credited_line_no = l.line_no
            JOIN billing.invoice AS cn
                ON cn.customer_id = c.customer_id AND cn.invoice_id = c.credit_note_id AND cn.status = 'issued'
            WHERE l.customer_id = NEW.customer_id AND l.invoice_id = NEW.credited_invoice_id
                AND l.line_no IN (
                    SELECT c2.credited_line_no FROM billing.credit_note_line AS c2
                    WHERE c2.customer_id = NEW.customer_id AND c2.credit_note_id = NEW.invoice_id
                )
            GROUP BY l.line_no, l.quantity, l.amount
        LOOP
            IF r.credited_quantity > r.quantity OR abs(r.credited_amount) > abs(r.amount) THEN
                PERFORM billing.fail('23514', format('%s would credit more than line %s of %s billed', v_doc, r.line_no,
                    billing.document_label(NEW.customer_id, NEW.credited_invoice_id)),
                    format('line quantity %s, amount %s; credited in all: quantity %s, amount %s',
                        r.quantity, r.amount, r.credited_quantity, r.credited_amount));
            END IF;
            -- Units given back take their share of what the line still holds: the last units take exactly the rest.
            IF r.this_quantity IS NOT NULL THEN
                v_expected := billing.round_money(
                    (r.amount - r.credited_amount + r.this_amount) * r.this_quantity
                    / (r.quantity - r.credited_quantity + r.this_quantity), NEW.currency);
                IF r.this_amount <> v_expected THEN
                    PERFORM billing.fail('23514', format('%s: crediting %s units of line %s gives back %s, not %s',
                        v_doc, r.this_quantity, r.line_no, v_expected, r.this_amount),
                        'A quantity credit is worth its share of what the line has not yet given back.');
                END IF;
            END IF;
        END LOOP;
        -- Discounts and tax go back with their base, in the same share; never on their own, never left behind.
        SELECT s.* INTO r FROM billing.credit_shares(NEW.customer_id, NEW.credited_invoice_id, NEW.invoice_id) AS s
        WHERE s.given <> s.expected
        ORDER BY s.line_no
        LIMIT 1;
        IF FOUND THEN
            PERFORM billing.fail('23514', format('%s gives back %s of %s line %s of %s, not %s', v_doc, r.given,
                r.line_type, r.line_no, billing.document_label(NEW.customer_id, NEW.credited_invoice_id), r.expected),
                'A discount or tax line goes back with what it was taken off or charged on (its base), in the same share.',
                'Credit the lines of its base (billing.issue_credit_note takes discounts and tax along); correct a '
                'wrong discount or rate by a void and a new invoice.');
        END IF;
        -- A credit note settles the invoice it corrects, all of it: what is open first, then what write-offs,
        -- credit notes from elsewhere and payments settled is released to make room (a payment's part becomes
        -- its open credit). So credit notes never hold credit of their own: only cash paid in is paid out.
        IF NEW.total > v_balance.total - v_balance.allocated THEN
            PERFORM billing.release_settlements(NEW.customer_id, NEW.credited_invoice_id,
                NEW.total - (v_balance.total - v_balance.allocated), format('released by %s', v_doc));
        END IF;
        IF NEW.total > 0 THEN
            INSERT INTO billing.allocation (customer_id, currency, invoice_id, credit_note_id, amount, reason)
            VALUES (NEW.customer_id, NEW.currency, NEW.credited_invoice_id, NEW.invoice_id, NEW.total,
                'credit note applied to the invoice it corrects');
        END IF;
    END IF;

    -- The billed part of order lines and charges: up for an invoice, down for what a credit note gives back.
    -- Rows are locked in key order, so concurrent issuers cannot deadlock on them.
    FOR r IN
        SELECT p.order_id, p.order_line_no AS item_no, FALSE AS is_charge, sum(l.quantity) AS delta
        FROM billing.invoice_product_line AS p
        JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
        WHERE NEW.kind = 'invoice' AND p.customer_id = NEW.customer_id AND p.invoice_id = NEW.invoice_id
        GROUP BY p.order_id, p.order_line_no
        UNION ALL
        SELECT p.order_id, p.order_line_no, FALSE, -sum(c.quantity)
        FROM billing.credit_note_line AS c
        JOIN billing.invoice_product_line AS p
            ON p.customer_id = c.customer_id AND p.invoice_id = c.credited_invoice_id AND p.line_no = c.credited_line_no
        WHERE NEW.kind = 'credit_note' AND c.customer_id = NEW.customer_id AND c.credit_note_id = NEW.invoice_id
            AND c.quantity IS NOT NULL
        GROUP BY p.order_id, p.order_line_no
        UNION ALL
        SELECT f.order_id, f.order_charge_no, TRUE, sum(l.amount)
        FROM billing.invoice_fee_line AS f
        JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
        WHERE NEW.kind = 'invoice' AND f.customer_id = NEW.customer_id AND f.invoice_id = NEW.invoice_id
            AND f.order_charge_no IS NOT NULL
        GROUP BY f.order_id, f.order_charge_no
        UNION ALL
        SELECT f.order_id, f.order_charge_no, TRUE, -sum(c.amount)
        FROM billing.credit_note_line AS c
        JOIN billing.invoice_fee_line AS f
            ON f.customer_id = c.customer_id AND f.invoice_id = c.credited_invoice_id AND f.line_no = c.credited_line_no
        WHERE NEW.kind = 'credit_note' AND c.customer_id = NEW.customer_id AND c.credit_note_id = NEW.invoice_id
            AND f.order_charge_no IS NOT NULL
        GROUP BY f.order_id, f.order_charge_no
        ORDER BY is_charge, order_id, item_no
    LOOP
        PERFORM billing.bill_order_item(NEW.customer_id, r.order_id, r.item_no, r.is_charge, r.delta, v_doc);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.invoice_issued() IS
'Trigger after a document is issued: opens the document''s balance row; books a credit note against the '
'credited invoice (never more than it billed, in all and per line: 23514) and applies all of it to that invoice, '
'releasing what else settled it as far as needed (billing.release_settlements); moves the billed part of the '
'order lines and charges involved.';

CREATE OR REPLACE TRIGGER t20_invoice_issued
AFTER UPDATE ON billing.invoice
FOR EACH ROW WHEN (old.status = 'draft' AND new.status = 'issued')
EXECUTE FUNCTION billing.invoice_issued();

CREATE OR REPLACE FUNCTION billing.document_series_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM billing.fail('PB001', format('number series %L is history: DELETE refused', OLD.series));
    END IF;
    -- A client may change scope, a setting, and nothing else; issuing moves next_no by one.
    IF TG_OP = 'UPDATE' AND (
        pg_trigger_depth() <= 1 AND (
            (NEW.series, NEW.prefix, NEW.next_no) IS DISTINCT FROM (OLD.series, OLD.prefix, OLD.next_no)
            OR NEW.scope = OLD.scope
        )
        OR pg_trigger_depth() > 1 AND (NEW.series <> OLD.series OR NEW.prefix <> OLD.prefix OR NEW.next_no <> OLD.next_no + 1)
    ) THEN
        PERFORM billing.fail('PB002', format('number series %L is kept by issuing documents: UPDATE refused', OLD.series),
            p_hint => 'Numbers are gapless and never reused; add a new series with INSERT instead.');
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.scope = 'global' AND OLD.scope <> 'global'
        AND EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'citus') THEN
        PERFORM billing.fail('55000', format('number series %L must stay per customer on Citus', OLD.series),
            p_hint => 'A global series is a row every node would write; distributed tables are numbered per customer.');
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.document_series_rules() IS
'Trigger: a number series only advances by one, when a document is issued (PB002); it is never deleted (PB001); '
'a client may change its scope and nothing else (an UPDATE that changes nothing is refused too), but not back to '
'global where Citus is installed (55000).';

CREATE OR REPLACE FUNCTION billing.customer_document_series_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM billing.fail('PB001', format('number series %L of customer %s is history: DELETE refused',
            OLD.series, OLD.customer_id));
    END IF;
    IF pg_trigger_depth() <= 1 OR (TG_OP = 'INSERT' AND NEW.next_no <> 1) OR (TG_OP = 'UPDATE' AND (
        NEW.customer_id <> OLD.customer_id OR NEW.series <> OLD.series OR NEW.next_no <> OLD.next_no + 1
    )) THEN
        PERFORM billing.fail('PB002', format('number series %L of customer %s is kept by issuing documents: %s refused',
            NEW.series, NEW.customer_id, TG_OP), p_hint => 'Numbers are gapless and never reused.');
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.customer_document_series_rules() IS
'Trigger: a customer''s number series starts at 1, created with the customer (or by its first document of a '
'series added later), and only advances by one, when a document is issued (PB002); it is never deleted (PB001).';

CREATE OR REPLACE FUNCTION billing.lock_series(p_customer_id bigint, p_series text) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF (SELECT s.scope FROM billing.document_series AS s WHERE s.series = p_series) = 'per_customer' THEN
        PERFORM FROM billing.customer_document_series AS s
        WHERE s.customer_id = p_customer_id AND s.series = p_series
        FOR UPDATE;
    ELSE
        PERFORM FROM billing.document_series AS s WHERE s.series = p_series FOR UPDATE;
    END IF;
END
$$;

COMMENT ON FUNCTION billing.lock_series(bigint, text) IS
'Locks, until commit, the number series a document of the customer would be numbered from: the customer''s own '
'when the series is kept per customer, else the shared one. Issuers that take other locks take this one first.';

CREATE OR REPLACE TRIGGER t10_customer_document_series_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.customer_document_series
FOR EACH ROW EXECUTE FUNCTION billing.customer_document_series_rules();

CREATE OR REPLACE TRIGGER t10_document_series_rules
BEFORE UPDATE OR DELETE ON billing.document_series
FOR EACH ROW EXECUTE FUNCTION billing.document_series_rules();
