-- Rules on invoice lines, their subtype rows and credit note lines: they change only while their
-- document is a draft, and each line is checked against its order, currency and subtype.

CREATE OR REPLACE FUNCTION billing.line_guard() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_row jsonb;
    v_status text;
    v_doc text;
BEGIN
    FOREACH v_row IN ARRAY ARRAY[
        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END
    ] LOOP
        CONTINUE WHEN v_row IS NULL;
        -- FOR SHARE: an issue of the same document waits for this statement's transaction, and vice versa.
        SELECT i.status INTO v_status FROM billing.invoice AS i
        WHERE i.customer_id = (v_row ->> 'customer_id')::bigint
            AND i.invoice_id = coalesce(v_row ->> 'invoice_id', v_row ->> 'credit_note_id')::bigint
        FOR SHARE;
        IF v_status = 'issued' THEN
            v_doc := billing.document_label((v_row ->> 'customer_id')::bigint,
                coalesce(v_row ->> 'invoice_id', v_row ->> 'credit_note_id')::bigint);
            IF TG_OP = 'INSERT' THEN
                PERFORM billing.fail('55000', format('%s is issued: no line can be added', v_doc),
                    p_hint => 'Bill it on a new invoice, or correct with a credit note.');
            END IF;
            PERFORM billing.fail('PB001', format('%s is issued and never changes: %s on billing.%s refused',
                v_doc, TG_OP, TG_ARGV[0]),
                p_hint => 'Correct it with a credit note (billing.issue_credit_note) and a new invoice.');
        END IF;
    END LOOP;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

COMMENT ON FUNCTION billing.line_guard() IS
'Trigger on every line table (its argument: the table''s name): lines of an issued document cannot be added '
'(55000), changed or deleted (PB001).';

DROP FUNCTION IF EXISTS billing.validate_line(bigint, bigint, integer);  -- became validate_lines

CREATE OR REPLACE FUNCTION billing.validate_lines(
    p_customer_id bigint, p_invoice_id bigint, p_line_no integer DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    v_broken text;
    v_doc text;
BEGIN
    -- One query reads every line checked with its subtype row, order and charge; the loop only compares. Each table
    -- is filtered by the customer itself, so Citus routes the query to the customer's shards (README, Scale-out).
    FOR r IN
        SELECT l.line_no, l.line_type, l.amount, l.unit_amount, i.currency,
            CASE WHEN l.line_type = 'tax' THEN billing.round_money(t.taxable_amount * t.rate, i.currency)
                ELSE billing.round_money(l.quantity * l.unit_amount, i.currency)
            END AS expected,
            p.line_no IS NOT NULL AS has_product, ol.unit_price, f.fee_code, c.fee_code AS charge_fee,
            o.order_id, o.currency AS order_currency, o.is_canceled, dl.applies_to_line_no, dt.line_amount, dt.discounted,
            dt.line_type AS applies_to_type,
            l.line_type = 'tax' AND NOT EXISTS (  -- the lines before a tax line are its base
                SELECT FROM billing.invoice_line AS b
                WHERE b.customer_id = p_customer_id AND b.invoice_id = l.invoice_id AND b.line_no < l.line_no
                    AND b.line_type <> 'tax'
            ) AS tax_without_base,
            format('canceled at %s: %s', o.canceled_time, o.cancel_reason) AS cancel_info
        FROM billing.invoice_line AS l
        INNER JOIN billing.invoice AS i ON i.customer_id = p_customer_id AND i.invoice_id = l.invoice_id
        LEFT JOIN billing.invoice_product_line AS p
            ON p.customer_id = p_customer_id AND p.invoice_id = l.invoice_id AND p.line_no = l.line_no
        LEFT JOIN billing.order_line AS ol
            ON ol.customer_id = p_customer_id AND ol.order_id = p.order_id AND ol.line_no = p.order_line_no
        LEFT JOIN billing.invoice_fee_line AS f
            ON f.customer_id = p_customer_id AND f.invoice_id = l.invoice_id AND f.line_no = l.line_no
        LEFT JOIN billing.order_charge AS c
            ON c.customer_id = p_customer_id AND c.order_id = f.order_id AND c.charge_no = f.order_charge_no
        LEFT JOIN billing.invoice_tax_line AS t
            ON t.customer_id = p_customer_id AND t.invoice_id = l.invoice_id AND t.line_no = l.line_no
        LEFT JOIN billing.sales_order AS o ON o.customer_id = p_customer_id AND o.order_id = coalesce(p.order_id, f.order_id)
        LEFT JOIN billing.invoice_discount_line AS dl
            ON dl.customer_id = p_customer_id AND dl.invoice_id = l.invoice_id AND dl.line_no = l.line_no
        LEFT JOIN LATERAL (
            SELECT max(a.amount) AS line_amount, -sum(x.amount) AS discounted, max(a.line_type) AS line_type
            FROM billing.invoice_line AS a
            JOIN billing.invoice_discount_line AS xd
                ON xd.customer_id = p_customer_id AND xd.invoice_id = a.invoice_id AND xd.applies_to_line_no = a.line_no
            JOIN billing.invoice_line AS x
                ON x.customer_id = p_customer_id AND x.invoice_id = xd.invoice_id AND x.line_no = xd.line_no
            WHERE a.customer_id = p_customer_id AND a.invoice_id = dl.invoice_id AND a.line_no = dl.applies_to_line_no
        ) AS dt ON dl.applies_to_line_no IS NOT NULL
        WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id
            -- a range, not "IS NULL OR =": the index serves it in a cached generic plan
            AND l.line_no BETWEEN coalesce(p_line_no, 1) AND coalesce(p_line_no, 2147483647)
        ORDER BY l.line_no
    LOOP
        -- The first rule the line breaks, in this order; the message (which reads the document) only then.
        v_broken := CASE
            WHEN NOT (abs(r.amount) < 1e15 AND r.amount = billing.round_money(r.amount, r.currency)) THEN 'money'
            WHEN r.has_product AND r.unit_amount IS DISTINCT FROM r.unit_price THEN 'price'
            WHEN r.charge_fee <> r.fee_code THEN 'fee'
            WHEN r.amount <> r.expected THEN 'amount'
            WHEN r.order_currency <> r.currency THEN 'currency'
            WHEN r.is_canceled THEN 'canceled'
            WHEN r.applies_to_type NOT IN ('product', 'fee') THEN 'discount_base'
            WHEN r.discounted > r.line_amount THEN 'discount'
            WHEN r.tax_without_base AND r.amount <> 0 AND p_line_no IS NULL THEN 'tax_base'  -- at issue
        END;
        CONTINUE WHEN v_broken IS NULL;
        v_doc := format('line %s of %s', r.line_no, billing.document_label(p_customer_id, p_invoice_id));
        CASE v_broken
            WHEN 'money' THEN
                PERFORM billing.check_money(r.amount, r.currency, v_doc);
            WHEN 'price' THEN
                PERFORM billing.fail('23514', format('%s: a product line bills at its order line''s unit price', v_doc),
                    format('unit_amount %s, order line unit price %s', r.unit_amount, r.unit_price));
            WHEN 'fee' THEN
                PERFORM billing.fail('23514', format('%s: a fee line bills its order charge''s fee', v_doc),
                    format('fee %s, order charge fee %s', r.fee_code, r.charge_fee));
            WHEN 'amount' THEN
                PERFORM billing.fail('23514', format('%s: amount %s should be %s', v_doc, r.amount, r.expected),
                    'The amount of a line is quantity x unit amount, of a tax line taxable amount x rate, '
                    'rounded with billing.round_money.');
            WHEN 'currency' THEN
                PERFORM billing.fail('23514', format('%s: order %s is in %s, the invoice in %s', v_doc, r.order_id,
                    r.order_currency, r.currency), p_hint => 'Bill each currency on its own invoice.');
            WHEN 'discount' THEN
                PERFORM billing.fail('23514', format('%s: the discounts on line %s take off more than it bills',
                    v_doc, r.applies_to_line_no), format('line amount %s, discounts %s', r.line_amount, r.discounted),
                    'A discount applying to a line is at most that line''s amount; a discount on the whole invoice '
                    'names no line.');
            WHEN 'discount_base' THEN
                PERFORM billing.fail('23514', format('%s: a discount applies to a product or fee line, not to %s line %s',
                    v_doc, r.applies_to_type, r.applies_to_line_no));
            WHEN 'tax_base' THEN
                PERFORM billing.fail('23514', format('%s: a tax line comes after the lines it is charged on', v_doc),
                    p_hint => 'Its base is the other lines before it: add them first.');
            ELSE
                PERFORM billing.fail('55000', format('%s: order %s is canceled', v_doc, r.order_id), r.cancel_info);
        END CASE;
    END LOOP;
END
$$;

COMMENT ON FUNCTION billing.validate_lines(bigint, bigint, integer) IS
'Checks the lines of an invoice (or only line p_line_no) with their subtype rows: amounts fit the currency; amount = '
'quantity x unit amount; a product line bills at its order line''s price; a fee line bills its charge''s fee; a tax '
'line is taxable x rate and comes after lines it is charged on; a discount applies to a product or fee line and '
'the discounts applying to a line take off at most its amount (all 23514); the order '
'billed is in the invoice''s currency (23514) and not canceled '
'(55000). Run for a line when it or its subtype row is written, and for every line when the invoice is issued.';

CREATE OR REPLACE FUNCTION billing.check_invoice_line() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.validate_lines(NEW.customer_id, NEW.invoice_id, NEW.line_no);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.check_invoice_line() IS
'Trigger after a line or subtype row is written: billing.validate_lines on it.';

CREATE OR REPLACE FUNCTION billing.check_credit_note_line() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_line billing.invoice_line;
    v_doc text := format('line %s of %s', NEW.line_no, billing.document_label(NEW.customer_id, NEW.credit_note_id));
BEGIN
    SELECT l.* INTO v_line FROM billing.invoice_line AS l
    WHERE l.customer_id = NEW.customer_id AND l.invoice_id = NEW.credited_invoice_id AND l.line_no = NEW.credited_line_no;
    IF NOT FOUND THEN
        RETURN NULL;  -- the foreign key reports it
    END IF;
    PERFORM billing.check_money(NEW.amount, (
        SELECT i.currency FROM billing.invoice AS i
        WHERE i.customer_id = NEW.customer_id AND i.invoice_id = NEW.credit_note_id
    ), v_doc);
    IF sign(NEW.amount) NOT IN (0, sign(v_line.amount)) OR abs(NEW.amount) > abs(v_line.amount)
        OR NEW.quantity > v_line.quantity THEN
        PERFORM billing.fail('23514', format('%s credits more than, or the opposite of, what line %s billed', v_doc, v_line.line_no),
            format('credited quantity %s, amount %s; billed quantity %s, amount %s',
                NEW.quantity, NEW.amount, v_line.quantity, v_line.amount));
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.check_credit_note_line() IS
'Trigger after a credit note line is written: its amount fits the currency and has the sign of the credited '
'line, and neither it nor its quantity exceeds that line (23514). Totals over all credit notes are checked on issue.';

DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY[
        'invoice_line', 'invoice_product_line', 'invoice_fee_line', 'invoice_discount_line',
        'invoice_tax_line', 'invoice_memo_line', 'credit_note_line'
    ] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER t10_%1$s_guard BEFORE INSERT OR UPDATE OR DELETE ON billing.%1$I
            FOR EACH ROW EXECUTE FUNCTION billing.line_guard(%1$L)', v_table);
        EXECUTE format('CREATE OR REPLACE TRIGGER t20_%1$s_check AFTER INSERT OR UPDATE ON billing.%1$I
            FOR EACH ROW EXECUTE FUNCTION billing.%2$s()', v_table,
            CASE v_table WHEN 'credit_note_line' THEN 'check_credit_note_line' ELSE 'check_invoice_line' END);
    END LOOP;
END
$$;

CREATE OR REPLACE TRIGGER t10_invoice_balance_derived
BEFORE INSERT OR UPDATE OR DELETE ON billing.invoice_balance
FOR EACH ROW EXECUTE FUNCTION billing.refuse_direct_change('invoice_balance');
