-- Public API: customers, products, orders, order lines and order charges.

CREATE OR REPLACE FUNCTION billing.create_customer(p_name text, p_email text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_customer_id bigint;
BEGIN
    INSERT INTO billing.customer (name, email)
    VALUES (billing.require(p_name, 'p_name'), p_email)
    RETURNING customer_id INTO v_customer_id;
    RETURN v_customer_id;
END
$$;

COMMENT ON FUNCTION billing.create_customer(text, text) IS 'Creates a customer; returns its customer_id.';

CREATE OR REPLACE FUNCTION billing.create_product(p_sku text, p_name text, p_description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_product_id bigint;
BEGIN
    INSERT INTO billing.product (sku, name, description)
    VALUES (billing.require(p_sku, 'p_sku'), billing.require(p_name, 'p_name'), p_description)
    RETURNING product_id INTO v_product_id;
    RETURN v_product_id;
END
$$;

COMMENT ON FUNCTION billing.create_product(text, text, text) IS
'Creates a product; returns its product_id. A SKU already taken: 23505.';

CREATE OR REPLACE FUNCTION billing.lock_order(p_customer_id bigint, p_order_id bigint) RETURNS billing.sales_order
LANGUAGE plpgsql
AS $$
DECLARE
    v_order billing.sales_order;
BEGIN
    SELECT o.* INTO v_order FROM billing.sales_order AS o
    WHERE o.customer_id = billing.require(p_customer_id, 'p_customer_id')
        AND o.order_id = billing.require(p_order_id, 'p_order_id')
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('order %s of customer %s does not exist', p_order_id, p_customer_id),
            p_hint => 'An order is addressed by its customer and order id together.');
    END IF;
    RETURN v_order;
END
$$;

COMMENT ON FUNCTION billing.lock_order(bigint, bigint) IS
'The order, locked until commit (so line and charge numbers are handed out one at a time); 23503 when the '
'customer has no such order.';

CREATE OR REPLACE FUNCTION billing.add_order_line(
    p_customer_id bigint, p_order_id bigint, p_sku text, p_quantity numeric, p_unit_price numeric
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_product_id bigint;
    v_line_no integer;
BEGIN
    PERFORM billing.lock_order(p_customer_id, p_order_id);
    SELECT p.product_id INTO v_product_id FROM billing.product AS p WHERE p.sku = billing.require(p_sku, 'p_sku');
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('product with SKU %L does not exist', left(p_sku, 200)),
            p_hint => 'Create it with billing.create_product first.');
    END IF;
    SELECT coalesce(max(l.line_no), 0) + 1 INTO v_line_no FROM billing.order_line AS l
    WHERE l.customer_id = p_customer_id AND l.order_id = p_order_id;
    INSERT INTO billing.order_line (customer_id, order_id, line_no, product_id, quantity, unit_price)
    VALUES (p_customer_id, p_order_id, v_line_no, v_product_id,
        billing.require(p_quantity, 'p_quantity'), billing.require(p_unit_price, 'p_unit_price'));
    RETURN v_line_no;
END
$$;

COMMENT ON FUNCTION billing.add_order_line(bigint, bigint, text, numeric, numeric) IS
'Adds a line to an order; returns its line number. Quantity > 0 and unit price >= 0 (23514); '
'an unknown SKU or order is 23503; a canceled order takes no lines (55000).';

CREATE OR REPLACE FUNCTION billing.place_order(
    p_customer_id bigint, p_currency text, p_lines jsonb, p_order_ref text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_order_id bigint;
    v_line jsonb;
    v_sku text;
BEGIN
    IF jsonb_typeof(billing.require(p_lines, 'p_lines')) IS DISTINCT FROM 'array' OR jsonb_array_length(p_lines) = 0 THEN
        PERFORM billing.fail('22023', 'p_lines must be a non-empty JSON array of order lines',
            format('given: %s', left(p_lines::text, 200)),
            'e.g. [{"sku": "A-1", "quantity": 2, "unit_price": 9.90}] (or "product_id" instead of "sku")');
    END IF;
    PERFORM billing.minor_units(billing.require(p_currency, 'p_currency'));
    v_order_id := nextval(pg_get_serial_sequence('billing.sales_order', 'order_id'));
    INSERT INTO billing.sales_order (customer_id, order_id, order_ref, currency) OVERRIDING SYSTEM VALUE
    VALUES (billing.require(p_customer_id, 'p_customer_id'), v_order_id, coalesce(p_order_ref, 'ORDER-' || v_order_id),
        p_currency);
    FOR v_line IN SELECT e.value FROM jsonb_array_elements(p_lines) AS e LOOP
        -- One OR chain, evaluated left to right: the key tests run only on an object.
        IF jsonb_typeof(v_line) <> 'object'
            OR v_line - ARRAY['sku', 'product_id', 'quantity', 'unit_price'] <> '{}'::jsonb
            OR (v_line ? 'sku') = (v_line ? 'product_id')
            OR NOT coalesce(
                jsonb_typeof(v_line -> 'sku') = 'string' OR (v_line ->> 'product_id') ~ '^[0-9]{1,18}$', FALSE
            )
            OR NOT coalesce((v_line ->> 'quantity') ~ '^-?[0-9]+(\.[0-9]+)?$', FALSE)
            OR NOT coalesce((v_line ->> 'unit_price') ~ '^-?[0-9]+(\.[0-9]+)?$', FALSE) THEN
            PERFORM billing.fail('22023', 'each order line needs "sku" (a string) or an integer "product_id", not both, '
                'and a "quantity" and "unit_price" that are numbers (or decimal strings); no other key',
                format('given: %s', left(v_line::text, 200)));
        END IF;
        v_sku := coalesce(v_line ->> 'sku',
            (SELECT p.sku FROM billing.product AS p WHERE p.product_id = (v_line ->> 'product_id')::bigint),
            format('(product_id %s)', v_line ->> 'product_id'));
        PERFORM billing.add_order_line(p_customer_id, v_order_id, v_sku,
            (v_line ->> 'quantity')::numeric, (v_line ->> 'unit_price')::numeric);
    END LOOP;
    RETURN v_order_id;
END
$$;

COMMENT ON FUNCTION billing.place_order(bigint, text, jsonb, text) IS
'Places an order in one currency with its lines, p_lines = [{"sku": ..., "quantity": ..., "unit_price": ...}] '
'(or "product_id" for "sku"; no other key, each value of its type, else 22023); returns the order_id. '
'p_order_ref defaults to ORDER-<order_id>; it is unique per customer (23505).';

CREATE OR REPLACE FUNCTION billing.add_order_charge(
    p_customer_id bigint, p_order_id bigint, p_fee_code text, p_amount numeric, p_description text DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_charge_no integer;
BEGIN
    PERFORM billing.lock_order(p_customer_id, p_order_id);
    SELECT coalesce(max(c.charge_no), 0) + 1 INTO v_charge_no FROM billing.order_charge AS c
    WHERE c.customer_id = p_customer_id AND c.order_id = p_order_id;
    INSERT INTO billing.order_charge (customer_id, order_id, charge_no, fee_code, amount, description)
    VALUES (p_customer_id, p_order_id, v_charge_no, billing.require(p_fee_code, 'p_fee_code'),
        billing.require(p_amount, 'p_amount'), p_description);
    RETURN v_charge_no;
END
$$;

COMMENT ON FUNCTION billing.add_order_charge(bigint, bigint, text, numeric, text) IS
'Adds a fee to an order after it was placed (e.g. shipping, a late fee), possibly after it was paid; returns the '
'charge number. It is billed by the next billing.bill_order. Amount > 0 in the order currency''s minor units (23514).';
