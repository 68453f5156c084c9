-- 0010_refunds_and_write_offs: refund (money paid back out of open credit) with refund_part (which payment or
-- credit note it came from), and write_off (an open invoice amount that will never be collected).
-- Locks: none on existing objects (new tables only).
CREATE TABLE billing.refund (
    customer_id bigint NOT NULL,
    refund_id bigint GENERATED ALWAYS AS IDENTITY,
    currency char(3) NOT NULL,
    amount numeric NOT NULL,
    method_id bigint NOT NULL,
    refunded_at timestamptz NOT NULL DEFAULT now(),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    reason text,
    CONSTRAINT refund_pkey PRIMARY KEY (customer_id, refund_id),
    CONSTRAINT refund_currency_key UNIQUE (customer_id, refund_id, currency),
    CONSTRAINT refund_customer_fkey FOREIGN KEY (customer_id) REFERENCES billing.customer (customer_id),
    CONSTRAINT refund_currency_fkey FOREIGN KEY (currency) REFERENCES billing.currency (code),
    CONSTRAINT refund_method_fkey FOREIGN KEY (method_id) REFERENCES billing.payment_method (method_id),
    CONSTRAINT refund_amount_check CHECK (amount > 0)
);

COMMENT ON TABLE billing.refund IS
'Money paid back to a customer out of open credit (an overpayment, a credit note''s unapplied rest). Immutable; '
'its parts (billing.refund_part) say which payments or credit notes it used, and add up to its amount.';

CREATE TABLE billing.refund_part (
    customer_id bigint NOT NULL,
    refund_id bigint NOT NULL,
    part_no integer NOT NULL,
    currency char(3) NOT NULL,
    payment_id bigint,
    credit_note_id bigint,
    credit_note_kind text NOT NULL DEFAULT 'credit_note',
    amount numeric NOT NULL,
    CONSTRAINT refund_part_pkey PRIMARY KEY (customer_id, refund_id, part_no),
    CONSTRAINT refund_part_refund_fkey FOREIGN KEY (customer_id, refund_id, currency)
    REFERENCES billing.refund (customer_id, refund_id, currency),
    CONSTRAINT refund_part_payment_fkey FOREIGN KEY (customer_id, payment_id, currency)
    REFERENCES billing.payment (customer_id, payment_id, currency),
    CONSTRAINT refund_part_credit_note_fkey FOREIGN KEY (customer_id, credit_note_id, credit_note_kind, currency)
    REFERENCES billing.invoice (customer_id, invoice_id, kind, currency),
    CONSTRAINT refund_part_credit_note_kind_check CHECK (credit_note_kind = 'credit_note'),
    CONSTRAINT refund_part_source_check CHECK (num_nonnulls(payment_id, credit_note_id) = 1),
    CONSTRAINT refund_part_amount_check CHECK (amount > 0)
);

COMMENT ON TABLE billing.refund_part IS
'Which open credit a refund used: part of one payment''s or one credit note''s unapplied rest.';

CREATE TABLE billing.write_off (
    customer_id bigint NOT NULL,
    write_off_id bigint GENERATED ALWAYS AS IDENTITY,
    currency char(3) NOT NULL,
    invoice_id bigint NOT NULL,
    invoice_kind text NOT NULL DEFAULT 'invoice',
    amount numeric NOT NULL,
    reverses_write_off_id bigint,
    reason text,
    written_off_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT write_off_pkey PRIMARY KEY (customer_id, write_off_id),
    CONSTRAINT write_off_reverses_key UNIQUE (customer_id, reverses_write_off_id),
    CONSTRAINT write_off_reverses_fkey FOREIGN KEY (customer_id, reverses_write_off_id)
    REFERENCES billing.write_off (customer_id, write_off_id),
    CONSTRAINT write_off_invoice_fkey FOREIGN KEY (customer_id, invoice_id, invoice_kind, currency)
    REFERENCES billing.invoice (customer_id, invoice_id, kind, currency),
    CONSTRAINT write_off_invoice_kind_check CHECK (invoice_kind = 'invoice'),
    CONSTRAINT write_off_amount_check CHECK (amount <> 0 AND (amount > 0) = (reverses_write_off_id IS NULL))
);

CREATE INDEX write_off_invoice_idx ON billing.write_off (customer_id, invoice_id);

COMMENT ON TABLE billing.write_off IS
'An open invoice amount that will never be collected (bad debt, a small residue): a non-cash credit applied to '
'that invoice, reported apart from payments and credit notes. Immutable; voiding the invoice appends a reversing '
'entry (negative amount, reverses_write_off_id), as un-allocating does.';
