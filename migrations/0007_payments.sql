-- 0007_payments: payment_method (with its initial rows), payment, payment_balance, payment_cancellation.
-- Locks: none on existing objects (new tables only).
CREATE TABLE billing.payment_method (
    method_id bigint GENERATED ALWAYS AS IDENTITY,
    code text NOT NULL,
    name text NOT NULL,
    sequence_no integer NOT NULL DEFAULT 0,
    description text,
    CONSTRAINT payment_method_pkey PRIMARY KEY (method_id),
    CONSTRAINT payment_method_code_key UNIQUE (code),
    CONSTRAINT payment_method_name_key UNIQUE (name),
    CONSTRAINT payment_method_code_check CHECK (code ~ '^[A-Z][A-Z0-9_]*$')
);

COMMENT ON TABLE billing.payment_method IS 'How money moves: cash, card, transfer. The API names a method by its code.';
COMMENT ON COLUMN billing.payment_method.sequence_no IS 'Display order of the methods in a list.';

INSERT INTO billing.payment_method (code, name, sequence_no, description) VALUES
('CASH', 'Cash', 10, 'Notes and coins at the counter'),
('CARD', 'Card', 20, 'Debit or credit card'),
('PAYPAL', 'PayPal', 30, NULL),
('STRIPE', 'Stripe', 40, NULL),
('BANK_TRANSFER', 'Bank transfer', 50, 'Credit transfer to the shop''s account');

CREATE TABLE billing.payment (
    customer_id bigint NOT NULL,
    payment_id bigint GENERATED ALWAYS AS IDENTITY,
    payment_no text NOT NULL,
    currency char(3) NOT NULL,
    amount numeric NOT NULL,
    method_id bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    reference text,
    comments text,
    CONSTRAINT payment_pkey PRIMARY KEY (customer_id, payment_id),
    CONSTRAINT payment_payment_no_key UNIQUE (payment_no),
    CONSTRAINT payment_currency_key UNIQUE (customer_id, payment_id, currency),
    CONSTRAINT payment_customer_fkey FOREIGN KEY (customer_id) REFERENCES billing.customer (customer_id),
    CONSTRAINT payment_currency_fkey FOREIGN KEY (currency) REFERENCES billing.currency (code),
    CONSTRAINT payment_method_fkey FOREIGN KEY (method_id) REFERENCES billing.payment_method (method_id),
    CONSTRAINT payment_amount_check CHECK (amount > 0),
    CONSTRAINT payment_payment_no_check CHECK (payment_no <> '')
);

COMMENT ON TABLE billing.payment IS
'Money received from a customer, in one currency. Immutable once recorded; what it pays is in billing.allocation, '
'its cancellation in billing.payment_cancellation.';
COMMENT ON COLUMN billing.payment.payment_no IS
'Unique across the system: given by the shop or the payment gateway, or PAY-<payment_id>. '
'Recording is idempotent on it.';
COMMENT ON COLUMN billing.payment.received_at IS 'When the money was received (value date), as the shop reports it.';
COMMENT ON COLUMN billing.payment.recorded_at IS 'When pgbilling recorded it: what point-in-time balances go by.';

CREATE TABLE billing.payment_balance (
    customer_id bigint NOT NULL,
    payment_id bigint NOT NULL,
    amount numeric NOT NULL,
    allocated numeric NOT NULL DEFAULT 0,
    refunded numeric NOT NULL DEFAULT 0,
    voided numeric NOT NULL DEFAULT 0,
    CONSTRAINT payment_balance_pkey PRIMARY KEY (customer_id, payment_id),
    CONSTRAINT payment_balance_payment_fkey FOREIGN KEY (customer_id, payment_id)
    REFERENCES billing.payment (customer_id, payment_id),
    CONSTRAINT payment_balance_amount_check CHECK (
        allocated >= 0 AND refunded >= 0 AND voided >= 0 AND allocated + refunded + voided <= amount
    )
);

COMMENT ON TABLE billing.payment_balance IS
'Running totals of a payment, one row each, kept by triggers only. Its CHECK keeps what was allocated, refunded '
'and voided (by cancellation) within the amount; its row lock serializes concurrent use of the payment.';
COMMENT ON COLUMN billing.payment_balance.voided IS 'The unallocated rest of a canceled payment: never usable again.';

CREATE TABLE billing.payment_cancellation (
    customer_id bigint NOT NULL,
    payment_id bigint NOT NULL,
    canceled_time timestamptz NOT NULL,
    cancel_reason text NOT NULL,
    CONSTRAINT payment_cancellation_pkey PRIMARY KEY (customer_id, payment_id),
    CONSTRAINT payment_cancellation_payment_fkey FOREIGN KEY (customer_id, payment_id)
    REFERENCES billing.payment (customer_id, payment_id),
    CONSTRAINT payment_cancellation_cancel_reason_check CHECK (cancel_reason <> '')
);

COMMENT ON TABLE billing.payment_cancellation IS
'A canceled payment (bounced, charged back, or its order canceled): when and why. Its allocations were reversed.';
