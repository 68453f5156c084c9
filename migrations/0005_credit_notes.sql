-- 0005_credit_notes: credit_note_line (what a credit note gives back, line by line),
-- invoice_balance (the mutable running totals of an issued invoice) and invoice_cancellation.
-- Locks: none on existing objects (new tables only).
CREATE TABLE billing.credit_note_line (
    customer_id bigint NOT NULL,
    credit_note_id bigint NOT NULL,
    line_no integer NOT NULL,
    kind text NOT NULL DEFAULT 'credit_note',
    credited_invoice_id bigint NOT NULL,
    credited_line_no integer NOT NULL,
    quantity numeric,
    amount numeric NOT NULL,
    CONSTRAINT credit_note_line_pkey PRIMARY KEY (customer_id, credit_note_id, line_no),
    CONSTRAINT credit_note_line_credited_line_key UNIQUE (customer_id, credit_note_id, credited_line_no),
    CONSTRAINT credit_note_line_credit_note_fkey FOREIGN KEY (customer_id, credit_note_id, kind, credited_invoice_id)
    REFERENCES billing.invoice (customer_id, invoice_id, kind, credited_invoice_id) ON DELETE CASCADE,
    CONSTRAINT credit_note_line_credited_line_fkey FOREIGN KEY (customer_id, credited_invoice_id, credited_line_no)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no),
    CONSTRAINT credit_note_line_kind_check CHECK (kind = 'credit_note'),
    CONSTRAINT credit_note_line_line_no_check CHECK (line_no > 0),
    CONSTRAINT credit_note_line_quantity_check CHECK (quantity > 0),
    CONSTRAINT credit_note_line_amount_check CHECK (amount <> 0 OR quantity IS NOT NULL)
);

CREATE INDEX credit_note_line_credited_line_idx
ON billing.credit_note_line (customer_id, credited_invoice_id, credited_line_no);

COMMENT ON TABLE billing.credit_note_line IS
'A line of a credit note: gives back part of one line of the credited invoice, by quantity (credited quantity '
'of a product line becomes billable again on its order line) or by amount only (a price correction). '
'Over all issued credit notes, a line never gets back more quantity or amount than it billed.';
COMMENT ON COLUMN billing.credit_note_line.amount IS
'Same sign as the credited line''s amount (negative when a discount is given back); never more than it.';

CREATE TABLE billing.invoice_balance (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    total numeric NOT NULL,
    credited numeric NOT NULL DEFAULT 0,
    CONSTRAINT invoice_balance_pkey PRIMARY KEY (customer_id, invoice_id),
    CONSTRAINT invoice_balance_invoice_fkey FOREIGN KEY (customer_id, invoice_id)
    REFERENCES billing.invoice (customer_id, invoice_id),
    CONSTRAINT invoice_balance_credited_check CHECK (credited BETWEEN 0 AND total)
);

COMMENT ON TABLE billing.invoice_balance IS
'Running totals of an issued invoice, one row each, kept by triggers only (the invoice row itself never '
'changes). Its CHECKs bound what credit notes can give back; its row lock serializes concurrent crediting.';

CREATE TABLE billing.invoice_cancellation (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    canceled_time timestamptz NOT NULL,
    cancel_reason text NOT NULL,
    credit_note_id bigint NOT NULL,
    CONSTRAINT invoice_cancellation_pkey PRIMARY KEY (customer_id, invoice_id),
    CONSTRAINT invoice_cancellation_invoice_fkey FOREIGN KEY (customer_id, invoice_id)
    REFERENCES billing.invoice (customer_id, invoice_id),
    CONSTRAINT invoice_cancellation_credit_note_fkey FOREIGN KEY (customer_id, credit_note_id)
    REFERENCES billing.invoice (customer_id, invoice_id),
    CONSTRAINT invoice_cancellation_cancel_reason_check CHECK (cancel_reason <> '')
);

COMMENT ON TABLE billing.invoice_cancellation IS
'An invoice canceled by billing.void_invoice or billing.cancel_order: when, why, and the credit note that '
'reversed it. The invoice and its lines read canceled through the views; their rows are not edited.';
