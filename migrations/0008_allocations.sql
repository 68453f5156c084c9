-- 0008_allocations: allocation, the append-only history of credit (a payment or a credit note) applied to
-- invoices; invoice_balance gains allocated and refunded.
-- Locks: ACCESS EXCLUSIVE on billing.invoice and billing.invoice_balance while the new unique index is built
-- and the new CHECK validates (both scan the table): run it when few documents are being issued.
ALTER TABLE billing.invoice ADD CONSTRAINT invoice_currency_key UNIQUE (customer_id, invoice_id, kind, currency);

ALTER TABLE billing.invoice_balance
ADD COLUMN allocated numeric NOT NULL DEFAULT 0,
ADD COLUMN refunded numeric NOT NULL DEFAULT 0,
ADD CONSTRAINT invoice_balance_allocated_check CHECK (
    allocated >= 0 AND refunded >= 0 AND allocated + refunded <= total
);

COMMENT ON COLUMN billing.invoice_balance.allocated IS
'For an invoice: paid (applied to it). For a credit note: applied from it to invoices.';
COMMENT ON COLUMN billing.invoice_balance.refunded IS 'For a credit note: paid back to the customer from its rest.';

CREATE TABLE billing.allocation (
    customer_id bigint NOT NULL,
    allocation_id bigint GENERATED ALWAYS AS IDENTITY,
    currency char(3) NOT NULL,
    invoice_id bigint NOT NULL,
    invoice_kind text NOT NULL DEFAULT 'invoice',
    payment_id bigint,
    credit_note_id bigint,
    credit_note_kind text NOT NULL DEFAULT 'credit_note',
    amount numeric NOT NULL,
    reverses_allocation_id bigint,
    allocated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    reason text,
    allocated_by text NOT NULL DEFAULT current_user,
    CONSTRAINT allocation_pkey PRIMARY KEY (customer_id, allocation_id),
    CONSTRAINT allocation_reverses_key UNIQUE (customer_id, reverses_allocation_id),
    CONSTRAINT allocation_invoice_fkey FOREIGN KEY (customer_id, invoice_id, invoice_kind, currency)
    REFERENCES billing.invoice (customer_id, invoice_id, kind, currency),
    CONSTRAINT allocation_payment_fkey FOREIGN KEY (customer_id, payment_id, currency)
    REFERENCES billing.payment (customer_id, payment_id, currency),
    CONSTRAINT allocation_credit_note_fkey FOREIGN KEY (customer_id, credit_note_id, credit_note_kind, currency)
    REFERENCES billing.invoice (customer_id, invoice_id, kind, currency),
    CONSTRAINT allocation_reverses_fkey FOREIGN KEY (customer_id, reverses_allocation_id)
    REFERENCES billing.allocation (customer_id, allocation_id),
    CONSTRAINT allocation_invoice_kind_check CHECK (invoice_kind = 'invoice'),
    CONSTRAINT allocation_credit_note_kind_check CHECK (credit_note_kind = 'credit_note'),
    CONSTRAINT allocation_source_check CHECK (num_nonnulls(payment_id, credit_note_id) = 1),
    CONSTRAINT allocation_amount_check CHECK (
        amount <> 0 AND (amount > 0) = (reverses_allocation_id IS NULL)
    )
);

CREATE INDEX allocation_invoice_idx ON billing.allocation (customer_id, invoice_id);
CREATE INDEX allocation_payment_idx ON billing.allocation (customer_id, payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX allocation_credit_note_idx ON billing.allocation (customer_id, credit_note_id)
WHERE credit_note_id IS NOT NULL;

COMMENT ON TABLE billing.allocation IS
'Append-only history of credit applied to invoices: part of a payment or of a credit note, to one invoice of the '
'same customer and currency (composite foreign keys). Un-allocating adds a reversing entry (negative amount, '
'reverses_allocation_id) and changes nothing, so any balance can be computed as of any past time.';
COMMENT ON COLUMN billing.allocation.amount IS
'Positive when applied; the negative of the original in a reversing entry.';
COMMENT ON COLUMN billing.allocation.allocated_at IS 'When it was recorded: what point-in-time balances go by.';
