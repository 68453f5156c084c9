-- 0006_disputes: invoice_dispute, a disputed issued invoice and its resolution.
-- Locks: none on existing objects (new table only).
CREATE TABLE billing.invoice_dispute (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    dispute_no integer NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL,
    resolved_at timestamptz,
    resolution_note text,
    CONSTRAINT invoice_dispute_pkey PRIMARY KEY (customer_id, invoice_id, dispute_no),
    CONSTRAINT invoice_dispute_invoice_fkey FOREIGN KEY (customer_id, invoice_id)
    REFERENCES billing.invoice (customer_id, invoice_id),
    CONSTRAINT invoice_dispute_dispute_no_check CHECK (dispute_no > 0),
    CONSTRAINT invoice_dispute_reason_check CHECK (reason <> ''),
    CONSTRAINT invoice_dispute_resolved_check CHECK (resolved_at IS NOT NULL OR resolution_note IS NULL)
);

CREATE UNIQUE INDEX invoice_dispute_open_key ON billing.invoice_dispute (customer_id, invoice_id)
WHERE resolved_at IS NULL;

COMMENT ON TABLE billing.invoice_dispute IS
'The customer disputes an issued invoice (reason, time) until the dispute is resolved (time, note). '
'At most one open dispute per invoice; the invoice itself stays unchanged. Allocation strategies '
'skip disputed invoices.';
