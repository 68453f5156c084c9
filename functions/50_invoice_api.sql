-- Public API: draft invoices, their lines, issuing, and billing an order in one call.

CREATE OR REPLACE FUNCTION billing.create_invoice(p_customer_id bigint, p_currency text, p_due_date date DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_invoice_id bigint;
BEGIN
    -- The currency is looked up first (23503): an unknown code of another length would not fit char(3).
    PERFORM billing.minor_units(billing.require(p_currency, 'p_currency'));
    INSERT INTO billing.invoice (customer_id, currency, due_date)
    VALUES (billing.require(p_customer_id, 'p_customer_id'), p_currency, p_due_date)
    RETURNING invoice_id INTO v_invoice_id;
    RETURN v_invoice_id;
END
$$;

COMMENT ON FUNCTION billing.create_invoice(bigint, text, date) IS
'Creates a draft invoice; returns its invoice_id. Add lines with billing.add_*_line, then billing.issue_invoice.';

CREATE OR REPLACE FUNCTION billing.add_line(
    p_customer_id bigint, p_invoice_id bigint, p_line_type text, p_quantity numeric, p_unit_amount numeric,
    p_amount numeric, p_description text
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_invoice billing.invoice;
    v_line_no integer;
BEGIN
    SELECT i.* INTO v_invoice FROM billing.invoice AS i
    WHERE i.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND i.invoice_id = billing.require(p_invoice_id, 'p_invoice_id')
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    END IF;
    IF v_invoice.status <> 'draft' OR v_invoice.kind <> 'invoice' THEN
        PERFORM billing.fail('55000', format('%s takes no new lines: only a draft invoice does',
            billing.document_label(p_customer_id, p_invoice_id)), p_hint => 'Bill it on a new invoice.');
    END IF;
    SELECT coalesce(max(l.line_no), 0) + 1 INTO v_line_no FROM billing.invoice_line AS l
    WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id;
    INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, quantity, unit_amount, amount, description)
    VALUES (p_customer_id, p_invoice_id, v_line_no, p_line_type, p_quantity, p_unit_amount, p_amount, p_description);
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_line(bigint, bigint, text, numeric, numeric, numeric, text) IS
'Internal to the add_*_line functions: locks the draft invoice and inserts the next invoice_line.';

CREATE OR REPLACE FUNCTION billing.add_product_line(
    p_customer_id bigint, p_invoice_id bigint, p_order_id bigint, p_order_line_no integer, p_quantity numeric
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_order_line billing.order_line;
    v_currency text;
    v_line_no integer;
BEGIN
    PERFORM billing.require(p_customer_id, 'p_customer_id'), billing.require(p_invoice_id, 'p_invoice_id');
    SELECT ol.* INTO v_order_line FROM billing.order_line AS ol
    WHERE ol.customer_id = p_customer_id AND ol.order_id = billing.require(p_order_id, 'p_order_id')
        AND ol.line_no = billing.require(p_order_line_no, 'p_order_line_no');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('order line %s of order %s of customer %s does not exist',
            p_order_line_no, p_order_id, p_customer_id), p_hint => 'A line can only bill its own customer''s order.');
    END IF;
    SELECT i.currency INTO v_currency FROM billing.invoice AS i
    WHERE i.customer_id = p_customer_id AND i.invoice_id = p_invoice_id;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    END IF;
    v_line_no := billing.add_line(p_customer_id, p_invoice_id, 'product', billing.require(p_quantity, 'p_quantity'),
        v_order_line.unit_price, billing.round_money(p_quantity * v_order_line.unit_price, v_currency),
        (SELECT p.name FROM billing.product AS p WHERE p.product_id = v_order_line.product_id));
    INSERT INTO billing.invoice_product_line (customer_id, invoice_id, line_no, order_id, order_line_no)
    VALUES (p_customer_id, p_invoice_id, v_line_no, p_order_id, p_order_line_no);
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_product_line(bigint, bigint, bigint, integer, numeric) IS
'Adds a product line billing p_quantity of an order line, at the order line''s unit price; returns the line number. '
'Whether the quantity is still unbilled is checked when the invoice is issued (23514).';

CREATE OR REPLACE FUNCTION billing.add_fee_line(
    p_customer_id bigint, p_invoice_id bigint, p_fee_code text, p_amount numeric, p_description text DEFAULT NULL,
    p_order_id bigint DEFAULT NULL, p_order_charge_no integer DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_line_no integer;
BEGIN
    v_line_no := billing.add_line(p_customer_id, p_invoice_id, 'fee', 1, NULL, billing.require(p_amount, 'p_amount'),
        coalesce(p_description, (SELECT f.name FROM billing.fee AS f WHERE f.fee_code = p_fee_code)));
    INSERT INTO billing.invoice_fee_line (customer_id, invoice_id, line_no, fee_code, order_id, order_charge_no)
    VALUES (p_customer_id, p_invoice_id, v_line_no, billing.require(p_fee_code, 'p_fee_code'), p_order_id, p_order_charge_no);
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_fee_line(bigint, bigint, text, numeric, text, bigint, integer) IS
'Adds a fee line (p_amount >= 0): of an order and its charge, of an order only, or of no order at all '
'(e.g. an ad-hoc licence fee); returns the line number.';

CREATE OR REPLACE FUNCTION billing.add_discount_line(
    p_customer_id bigint, p_invoice_id bigint, p_amount numeric, p_description text,
    p_applies_to_line_no integer DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_line_no integer;
BEGIN
    IF billing.require(p_amount, 'p_amount') <= 0 THEN
        PERFORM billing.fail('22023', format('p_amount of a discount is given positive; %s given', p_amount),
            p_hint => 'The line stores it negative: add_discount_line(..., 5.00, ...) takes 5.00 off.');
    END IF;
    v_line_no := billing.add_line(p_customer_id, p_invoice_id, 'discount', 1, NULL, -p_amount,
        billing.require(p_description, 'p_description'));
    INSERT INTO billing.invoice_discount_line (customer_id, invoice_id, line_no, applies_to_line_no)
    VALUES (p_customer_id, p_invoice_id, v_line_no, p_applies_to_line_no);
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_discount_line(bigint, bigint, numeric, text, integer) IS
'Adds a discount: p_amount is given positive (0 or negative: 22023) and stored negative; optionally the line of '
'the same invoice it applies to. Returns the line number.';

CREATE OR REPLACE FUNCTION billing.add_tax_line(
    p_customer_id bigint, p_invoice_id bigint, p_tax_code text, p_rate numeric, p_taxable_amount numeric DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_taxable numeric := p_taxable_amount;
    v_currency text;
    v_line_no integer;
BEGIN
    SELECT i.currency INTO v_currency FROM billing.invoice AS i
    WHERE i.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND i.invoice_id = billing.require(p_invoice_id, 'p_invoice_id');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    END IF;
    IF v_taxable IS NULL THEN
        SELECT coalesce(sum(l.amount), 0) INTO v_taxable FROM billing.invoice_line AS l
        WHERE l.customer_id = p_customer_id AND l.invoice_id = p_invoice_id AND l.line_type <> 'tax';
    END IF;
    v_line_no := billing.add_line(p_customer_id, p_invoice_id, 'tax', 1, NULL,
        billing.round_money(v_taxable * billing.require(p_rate, 'p_rate'), v_currency),
        (SELECT t.name FROM billing.tax_authority AS t WHERE t.tax_code = p_tax_code));
    INSERT INTO billing.invoice_tax_line (customer_id, invoice_id, line_no, tax_code, rate, taxable_amount)
    VALUES (p_customer_id, p_invoice_id, v_line_no, billing.require(p_tax_code, 'p_tax_code'), p_rate, v_taxable);
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_tax_line(bigint, bigint, text, numeric, numeric) IS
'Adds a tax line at p_rate (a fraction: 0.19 is 19 %) of p_taxable_amount, which defaults to the sum of the '
'invoice''s other (non-tax) lines so far. Returns the line number.';

CREATE OR REPLACE FUNCTION billing.add_memo_line(p_customer_id bigint, p_invoice_id bigint, p_text text)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_line_no integer;
BEGIN
    v_line_no := billing.add_line(p_customer_id, p_invoice_id, 'memo', 1, NULL, 0, NULL);
    INSERT INTO billing.invoice_memo_line (customer_id, invoice_id, line_no, memo)
    VALUES (p_customer_id, p_invoice_id, v_line_no, billing.require(p_text, 'p_text'));
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_memo_line(bigint, bigint, text) IS
'Adds a text-only line (amount 0); returns the line number.';

CREATE OR REPLACE FUNCTION billing.issue_invoice(p_customer_id bigint, p_invoice_id bigint) RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_status text;
    v_no text;
BEGIN
    SELECT i.status INTO v_status FROM billing.invoice AS i
    WHERE i.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND i.invoice_id = billing.require(p_invoice_id, 'p_invoice_id')
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('invoice %s of customer %s does not exist', p_invoice_id, p_customer_id));
    ELSIF v_status = 'issued' THEN
        PERFORM billing.fail('55000', format('%s is issued already', billing.document_label(p_customer_id, p_invoice_id)));
    END IF;
    -- The orders it bills before the number series (which issuing locks next): the lock order of bill_order.
    PERFORM FROM billing.sales_order AS o
    WHERE o.customer_id = p_customer_id AND o.order_id IN (
        SELECT p.order_id FROM billing.invoice_product_line AS p
        WHERE p.customer_id = p_customer_id AND p.invoice_id = p_invoice_id
        UNION
        SELECT f.order_id FROM billing.invoice_fee_line AS f
        WHERE f.customer_id = p_customer_id AND f.invoice_id = p_invoice_id
    )
    ORDER BY o.order_id
    FOR SHARE;
    UPDATE billing.invoice AS i SET status = 'issued'
    WHERE i.customer_id = p_customer_id AND i.invoice_id = p_invoice_id
    RETURNING i.invoice_no INTO v_no;
    RETURN v_no;
END
$$;

COMMENT ON FUNCTION billing.issue_invoice(bigint, bigint) IS
'Issues a draft invoice (or credit note): checks it, gives it the next gapless number of its series and freezes '
'it; returns the number. Issuing twice: 55000. Over-billing an order line: 23514.';

CREATE OR REPLACE FUNCTION billing.issue_new_invoice(
    p_customer_id bigint, p_currency text, p_lines jsonb, p_due_date date DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    -- The keys of each line type and what each holds; a trailing ? marks a key that may be left out.
    c_keys constant jsonb := '{
        "product": {"order_id": "id", "order_line_no": "no", "quantity": "number"},
        "fee": {"fee_code": "string", "amount": "number", "description": "string?", "order_id": "id?",
            "order_charge_no": "no?"},
        "discount": {"amount": "number", "description": "string", "applies_to_line_no": "no?"},
        "tax": {"tax_code": "string", "rate": "number", "taxable_amount": "number?"},
        "memo": {"text": "string"}
    }';
    v_problem text;
    v_invoice_id bigint;
    v_description text;
    r record;
BEGIN
    PERFORM billing.require(p_customer_id, 'p_customer_id');
    SELECT CASE WHEN jsonb_typeof(billing.require(p_lines, 'p_lines')) <> 'array' OR p_lines = '[]'
        THEN 'not a non-empty JSON array'
        ELSE format('line %s: %s', e.n, q.problems)
    END INTO v_problem
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_lines) = 'array' AND p_lines <> '[]' THEN p_lines ELSE '[null]' END)
        WITH ORDINALITY AS e (line, n)
    CROSS JOIN LATERAL (
        SELECT string_agg(k.problem, '; ' ORDER BY k.key) AS problems
        FROM (
            SELECT '' AS key, CASE
                WHEN jsonb_typeof(e.line) <> 'object' THEN 'not a JSON object'
                WHEN NOT coalesce(c_keys ? (e.line ->> 'type'), FALSE)
                    THEN '"type" is not one of product, fee, discount, tax, memo'
            END AS problem
            UNION ALL
            SELECT coalesce(g.key, w.key), CASE
                WHEN w.key IS NULL THEN format('unknown key "%s"', left(g.key, 40))
                WHEN coalesce(g.value, 'null') = 'null' THEN
                    CASE WHEN w.want NOT LIKE '%?' THEN format('"%s" is missing', w.key) END
                WHEN jsonb_typeof(g.value) <> CASE WHEN w.want LIKE 'string%' THEN 'string' ELSE 'number' END
                    OR w.want LIKE 'id%' AND g.value::text !~ '^[1-9][0-9]{0,17}$'
                    OR w.want LIKE 'no%' AND g.value::text !~ '^[1-9][0-9]{0,8}$'
                    THEN format('"%s" must be %s', w.key, CASE
                        WHEN w.want LIKE 'string%' THEN 'a string'
                        WHEN w.want LIKE 'number%' THEN 'a number'
                        ELSE 'a whole number above 0'
                    END)
                WHEN e.line ->> 'type' = 'discount' AND w.key = 'amount' AND (g.value #>> '{}')::numeric <= 0
                    THEN '"amount" of a discount is given positive (it is stored negative)'
            END
            FROM jsonb_each(CASE WHEN c_keys ? (e.line ->> 'type') THEN e.line - 'type' END) AS g
            FULL JOIN jsonb_each_text(c_keys -> (e.line ->> 'type')) AS w (key, want) ON w.key = g.key
        ) AS k
    ) AS q
    WHERE q.problems IS NOT NULL
    ORDER BY e.n
    LIMIT 1;
    IF v_problem IS NOT NULL THEN
        PERFORM billing.fail('22023', format('p_lines: %s', v_problem), format('given: %s', left(p_lines::text, 200)),
            'A JSON array of lines, each like {"type": "fee", "fee_code": "SHIPPING", "amount": 4.90} (README, '
            'billing.issue_new_invoice).');
    END IF;
    SELECT format('line %s bills order line %s of order %s of customer %s, which does not exist',
        e.n, e.line ->> 'order_line_no', e.line ->> 'order_id', p_customer_id) INTO v_problem
    FROM jsonb_array_elements(p_lines) WITH ORDINALITY AS e (line, n)
    WHERE e.line ->> 'type' = 'product' AND NOT EXISTS (
        SELECT FROM billing.order_line AS ol
        WHERE ol.customer_id = p_customer_id AND ol.order_id = (e.line ->> 'order_id')::bigint
            AND ol.line_no = (e.line ->> 'order_line_no')::integer
    )
    ORDER BY e.n
    LIMIT 1;
    IF v_problem IS NOT NULL THEN
        PERFORM billing.fail('23503', v_problem, p_hint => 'A line can only bill its own customer''s order.');
    END IF;

    v_invoice_id := billing.create_invoice(p_customer_id, p_currency, p_due_date);
    -- Each line and its subtype row, priced as the add_*_line functions price them: a product at its order line's
    -- unit price, a discount stored negative, a tax line by default on the lines before it. One INSERT per row, and
    -- names looked up apart: on Citus every statement stays on the customer's node, and a join of a customer's
    -- table with a lookup table fails Citus' check that a delegated call reads that customer only.
    FOR r IN
        WITH given AS (
            SELECT e.n::integer AS line_no, e.line ->> 'type' AS line_type, e.line, ol.unit_price, ol.product_id,
                CASE e.line ->> 'type'
                    WHEN 'product' THEN billing.round_money((e.line ->> 'quantity')::numeric * ol.unit_price, p_currency)
                    WHEN 'fee' THEN (e.line ->> 'amount')::numeric
                    WHEN 'discount' THEN -(e.line ->> 'amount')::numeric
                    WHEN 'memo' THEN 0
                END AS amount
            FROM jsonb_array_elements(p_lines) WITH ORDINALITY AS e (line, n)
            LEFT JOIN billing.order_line AS ol
                ON e.line ->> 'type' = 'product' AND ol.customer_id = p_customer_id
                AND ol.order_id = (e.line ->> 'order_id')::bigint AND ol.line_no = (e.line ->> 'order_line_no')::integer
        )
        -- (a tax line's amount is NULL in given, so the running sum is of the other lines before it)
        SELECT g.*, coalesce((g.line ->> 'taxable_amount')::numeric, sum(g.amount) OVER (ORDER BY g.line_no), 0) AS taxable
        FROM given AS g
        ORDER BY g.line_no
    LOOP
        v_description := CASE r.line_type
            WHEN 'product' THEN (SELECT pr.name FROM billing.product AS pr WHERE pr.product_id = r.product_id)
            WHEN 'fee' THEN coalesce(r.line ->> 'description',
                (SELECT fe.name FROM billing.fee AS fe WHERE fe.fee_code = r.line ->> 'fee_code'))
            WHEN 'discount' THEN r.line ->> 'description'
            WHEN 'tax' THEN (SELECT ta.name FROM billing.tax_authority AS ta WHERE ta.tax_code = r.line ->> 'tax_code')
        END;
        INSERT INTO billing.invoice_line (
            customer_id, invoice_id, line_no, line_type, quantity, unit_amount, amount, description
        ) VALUES (
            p_customer_id, v_invoice_id, r.line_no, r.line_type, coalesce((r.line ->> 'quantity')::numeric, 1),
            r.unit_price, coalesce(r.amount, billing.round_money(r.taxable * (r.line ->> 'rate')::numeric, p_currency)),
            v_description
        );
        CASE r.line_type
            WHEN 'product' THEN
                INSERT INTO billing.invoice_product_line (customer_id, invoice_id, line_no, order_id, order_line_no)
                VALUES (p_customer_id, v_invoice_id, r.line_no, (r.line ->> 'order_id')::bigint,
                    (r.line ->> 'order_line_no')::integer);
            WHEN 'fee' THEN
                INSERT INTO billing.invoice_fee_line (customer_id, invoice_id, line_no, fee_code, order_id, order_charge_no)
                VALUES (p_customer_id, v_invoice_id, r.line_no, r.line ->> 'fee_code', (r.line ->> 'order_id')::bigint,
                    (r.line ->> 'order_charge_no')::integer);
            WHEN 'discount' THEN
                INSERT INTO billing.invoice_discount_line (customer_id, invoice_id, line_no, applies_to_line_no)
                VALUES (p_customer_id, v_invoice_id, r.line_no, (r.line ->> 'applies_to_line_no')::integer);
            WHEN 'tax' THEN
                INSERT INTO billing.invoice_tax_line (customer_id, invoice_id, line_no, tax_code, rate, taxable_amount)
                VALUES (p_customer_id, v_invoice_id, r.line_no, r.line ->> 'tax_code', (r.line ->> 'rate')::numeric,
                    r.taxable);
            ELSE
                INSERT INTO billing.invoice_memo_line (customer_id, invoice_id, line_no, memo)
                VALUES (p_customer_id, v_invoice_id, r.line_no, r.line ->> 'text');
        END CASE;
    END LOOP;
    PERFORM billing.issue_invoice(p_customer_id, v_invoice_id);
    RETURN v_invoice_id;
END
$$;

COMMENT ON FUNCTION billing.issue_new_invoice(bigint, text, jsonb, date) IS
'Creates, fills and issues an invoice in one call; returns its invoice_id. p_lines is a JSON array, one object per '
'line in line order: {"type": "product", "order_id", "order_line_no", "quantity"}, {"type": "fee", "fee_code", '
'"amount"[, "description", "order_id", "order_charge_no"]}, {"type": "discount", "amount" (positive), '
'"description"[, "applies_to_line_no"]}, {"type": "tax", "tax_code", "rate"[, "taxable_amount": default the lines '
'before it]}, {"type": "memo", "text"}. The same rules as the add_*_line functions and issue_invoice apply, with '
'their SQLSTATEs; a malformed p_lines: 22023, an order line that does not exist: 23503.';

CREATE OR REPLACE FUNCTION billing.bill_order(
    p_customer_id bigint, p_order_id bigint, p_quantities jsonb DEFAULT NULL, p_due_date date DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_order billing.sales_order := billing.lock_order(p_customer_id, p_order_id);
    v_invoice_id bigint;
    r record;
BEGIN
    IF v_order.is_canceled THEN
        PERFORM billing.fail('55000', format('order %s of customer %s is canceled: nothing to bill', p_order_id, p_customer_id));
    END IF;
    IF p_quantities IS NOT NULL AND (jsonb_typeof(p_quantities) <> 'object' OR EXISTS (
        SELECT FROM jsonb_each(p_quantities) AS q
        WHERE jsonb_typeof(q.value) <> 'number' OR q.key !~ '^[1-9][0-9]{0,8}$'
    )) THEN
        PERFORM billing.fail('22023', 'p_quantities must be a JSON object {"<order line no>": quantity, ...}',
            format('given: %s', left(p_quantities::text, 200)),
            'Keys are line numbers as written by place_order ("1", not "01"), values numbers.');
    END IF;
    v_invoice_id := billing.create_invoice(p_customer_id, v_order.currency, p_due_date);
    FOR r IN
        SELECT l.line_no, coalesce((p_quantities ->> l.line_no::text)::numeric, l.quantity - l.billed_quantity) AS quantity
        FROM billing.order_line AS l
        WHERE l.customer_id = p_customer_id AND l.order_id = p_order_id
            AND (p_quantities IS NULL AND l.billed_quantity < l.quantity OR p_quantities ? l.line_no::text)
        ORDER BY l.line_no
    LOOP
        PERFORM billing.add_product_line(p_customer_id, v_invoice_id, p_order_id, r.line_no, r.quantity);
    END LOOP;
    IF p_quantities IS NOT NULL AND EXISTS (
        SELECT FROM jsonb_object_keys(p_quantities) AS k
        WHERE NOT EXISTS (
            SELECT FROM billing.order_line AS l
            WHERE l.customer_id = p_customer_id AND l.order_id = p_order_id AND l.line_no = k::integer
        )
    ) THEN
        PERFORM billing.fail('23503', format('p_quantities names lines that order %s of customer %s does not have',
            p_order_id, p_customer_id), format('given: %s', left(p_quantities::text, 200)));
    END IF;
    FOR r IN
        SELECT c.charge_no, c.fee_code, c.amount - c.billed_amount AS amount, c.description
        FROM billing.order_charge AS c
        WHERE c.customer_id = p_customer_id AND c.order_id = p_order_id AND c.billed_amount < c.amount
        ORDER BY c.charge_no
    LOOP
        PERFORM billing.add_fee_line(p_customer_id, v_invoice_id, r.fee_code, r.amount, r.description,
            p_order_id, r.charge_no);
    END LOOP;
    IF NOT EXISTS (
        SELECT FROM billing.invoice_line AS l WHERE l.customer_id = p_customer_id AND l.invoice_id = v_invoice_id
    ) THEN
        PERFORM billing.fail('55000', format('order %s of customer %s has nothing left to bill', p_order_id, p_customer_id));
    END IF;
    PERFORM billing.issue_invoice(p_customer_id, v_invoice_id);
    RETURN v_invoice_id;
END
$$;

COMMENT ON FUNCTION billing.bill_order(bigint, bigint, jsonb, date) IS
'Creates and issues one invoice for what is still unbilled on an order: every line''s unbilled quantity, or '
'p_quantities = {"<order line no>": quantity, ...}, plus every unbilled order charge. Returns the invoice_id. '
'Nothing left to bill, or a canceled order: 55000.';
