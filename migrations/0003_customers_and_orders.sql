-- 0003_customers_and_orders: customer, sales_order, order_line, order_charge.
-- Every customer-owned table leads its primary key with customer_id and carries it in every
-- foreign key to another customer-owned table, so rows can only point at the same customer's rows.
-- Locks: none on existing objects (new tables only).
CREATE TABLE billing.customer (
    customer_id bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_pkey PRIMARY KEY (customer_id),
    CONSTRAINT customer_name_check CHECK (name <> '')
);

COMMENT ON TABLE billing.customer IS 'Who buys. customer_id leads the key of every table the customer owns.';

CREATE TABLE billing.sales_order (
    customer_id bigint NOT NULL,
    order_id bigint GENERATED ALWAYS AS IDENTITY,
    order_ref text NOT NULL,
    currency char(3) NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    is_canceled boolean NOT NULL DEFAULT FALSE,
    canceled_time timestamptz,
    cancel_reason text,
    comments text,
    CONSTRAINT sales_order_pkey PRIMARY KEY (customer_id, order_id),
    CONSTRAINT sales_order_order_ref_key UNIQUE (customer_id, order_ref),
    CONSTRAINT sales_order_customer_fkey FOREIGN KEY (customer_id) REFERENCES billing.customer (customer_id),
    CONSTRAINT sales_order_currency_fkey FOREIGN KEY (currency) REFERENCES billing.currency (code),
    CONSTRAINT sales_order_order_ref_check CHECK (order_ref <> ''),
    CONSTRAINT sales_order_cancel_check CHECK (
        is_canceled = (canceled_time IS NOT NULL) AND is_canceled = (cancel_reason IS NOT NULL)
    )
);

COMMENT ON TABLE billing.sales_order IS
'What the customer asked for. Billing happens on invoices; an order''s total may change after it was paid.';
COMMENT ON COLUMN billing.sales_order.order_ref IS 'The customer''s (or shop''s) own reference, unique per customer.';
COMMENT ON COLUMN billing.sales_order.is_canceled IS
'Set by billing.cancel_order, with canceled_time and cancel_reason; its invoices then read canceled too.';

CREATE TABLE billing.order_line (
    customer_id bigint NOT NULL,
    order_id bigint NOT NULL,
    line_no integer NOT NULL,
    product_id bigint NOT NULL,
    quantity numeric NOT NULL,
    unit_price numeric NOT NULL,
    billed_quantity numeric NOT NULL DEFAULT 0,
    CONSTRAINT order_line_pkey PRIMARY KEY (customer_id, order_id, line_no),
    CONSTRAINT order_line_order_fkey FOREIGN KEY (customer_id, order_id)
    REFERENCES billing.sales_order (customer_id, order_id),
    CONSTRAINT order_line_product_fkey FOREIGN KEY (product_id) REFERENCES billing.product (product_id),
    CONSTRAINT order_line_line_no_check CHECK (line_no > 0),
    CONSTRAINT order_line_quantity_check CHECK (quantity > 0),
    CONSTRAINT order_line_unit_price_check CHECK (unit_price >= 0),
    CONSTRAINT order_line_billed_quantity_check CHECK (billed_quantity BETWEEN 0 AND quantity)
);

COMMENT ON TABLE billing.order_line IS 'A product, quantity and unit price the customer ordered.';
COMMENT ON COLUMN billing.order_line.billed_quantity IS
'Quantity on issued invoices less quantity given back by credit notes. Kept by triggers only; '
'its CHECK is what stops over-billing, and its row lock serializes concurrent billing of the line.';

CREATE TABLE billing.order_charge (
    customer_id bigint NOT NULL,
    order_id bigint NOT NULL,
    charge_no integer NOT NULL,
    fee_code text NOT NULL,
    amount numeric NOT NULL,
    description text,
    added_at timestamptz NOT NULL DEFAULT now(),
    billed_amount numeric NOT NULL DEFAULT 0,
    CONSTRAINT order_charge_pkey PRIMARY KEY (customer_id, order_id, charge_no),
    CONSTRAINT order_charge_order_fkey FOREIGN KEY (customer_id, order_id)
    REFERENCES billing.sales_order (customer_id, order_id),
    CONSTRAINT order_charge_fee_fkey FOREIGN KEY (fee_code) REFERENCES billing.fee (fee_code),
    CONSTRAINT order_charge_charge_no_check CHECK (charge_no > 0),
    CONSTRAINT order_charge_amount_check CHECK (amount > 0),
    CONSTRAINT order_charge_billed_amount_check CHECK (billed_amount BETWEEN 0 AND amount)
);

COMMENT ON TABLE billing.order_charge IS
'A fee added to an order after it was placed (shipping once known, a late fee), possibly after payment.';
COMMENT ON COLUMN billing.order_charge.billed_amount IS
'Amount on issued invoices less amount given back by credit notes. Kept by triggers only.';
