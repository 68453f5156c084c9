-- 0004_invoices: invoice (invoices and credit notes), invoice_line and its exclusive subtype tables.
-- A line's kind and line_type travel into its foreign keys, so a line can only belong to an invoice
-- (not a credit note) and a subtype row only to a line of its own type, without a trigger.
-- Locks: none on existing objects (new tables only).
CREATE TABLE billing.invoice (
    customer_id bigint NOT NULL,
    invoice_id bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL DEFAULT 'invoice',
    currency char(3) NOT NULL,
    status text NOT NULL DEFAULT 'draft',
    invoice_no text,
    issued_at timestamptz,
    due_date date,
    total numeric,
    credited_invoice_id bigint,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    comments text,
    CONSTRAINT invoice_pkey PRIMARY KEY (customer_id, invoice_id),
    CONSTRAINT invoice_invoice_no_key UNIQUE (customer_id, invoice_no),
    CONSTRAINT invoice_kind_key UNIQUE (customer_id, invoice_id, kind),
    CONSTRAINT invoice_credited_invoice_key UNIQUE (customer_id, invoice_id, kind, credited_invoice_id),
    CONSTRAINT invoice_customer_fkey FOREIGN KEY (customer_id) REFERENCES billing.customer (customer_id),
    CONSTRAINT invoice_currency_fkey FOREIGN KEY (currency) REFERENCES billing.currency (code),
    CONSTRAINT invoice_credited_invoice_fkey FOREIGN KEY (customer_id, credited_invoice_id)
    REFERENCES billing.invoice (customer_id, invoice_id),
    CONSTRAINT invoice_kind_check CHECK (kind IN ('invoice', 'credit_note')),
    CONSTRAINT invoice_status_check CHECK (status IN ('draft', 'issued')),
    CONSTRAINT invoice_credited_invoice_check CHECK ((kind = 'credit_note') = (credited_invoice_id IS NOT NULL)),
    CONSTRAINT invoice_issued_check CHECK (
        (status = 'issued') = (invoice_no IS NOT NULL)
        AND (status = 'issued') = (issued_at IS NOT NULL)
        AND (status = 'issued') = (total IS NOT NULL)
    ),
    CONSTRAINT invoice_total_check CHECK (total >= 0)
);

CREATE INDEX invoice_credited_invoice_idx ON billing.invoice (customer_id, credited_invoice_id)
WHERE credited_invoice_id IS NOT NULL;

COMMENT ON TABLE billing.invoice IS
'Billing documents: invoices (kind invoice) and credit notes (kind credit_note, correcting credited_invoice_id). '
'Created as drafts; issuing (status issued) numbers the document gaplessly in its series and freezes it and '
'its lines for good: corrections are new documents.';
COMMENT ON COLUMN billing.invoice.status IS 'draft (editable, deletable) or issued (immutable).';
COMMENT ON COLUMN billing.invoice.invoice_no IS
'Assigned on issue from billing.document_series (INV-000001, CN-000001): gapless, in issue order, never reused.';
COMMENT ON COLUMN billing.invoice.total IS
'Sum of the line amounts, stored on issue; never negative. A credit note may total 0 when it only returns units.';
COMMENT ON COLUMN billing.invoice.credited_invoice_id IS 'For a credit note: the invoice it corrects.';
COMMENT ON COLUMN billing.invoice.reason IS 'For a credit note: why it was issued.';

CREATE TABLE billing.invoice_line (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    line_no integer NOT NULL,
    kind text NOT NULL DEFAULT 'invoice',
    line_type text NOT NULL,
    quantity numeric NOT NULL DEFAULT 1,
    unit_amount numeric,
    amount numeric NOT NULL,
    description text,
    CONSTRAINT invoice_line_pkey PRIMARY KEY (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_line_line_type_key UNIQUE (customer_id, invoice_id, line_no, line_type),
    CONSTRAINT invoice_line_invoice_fkey FOREIGN KEY (customer_id, invoice_id, kind)
    REFERENCES billing.invoice (customer_id, invoice_id, kind) ON DELETE CASCADE,
    CONSTRAINT invoice_line_line_type_fkey FOREIGN KEY (line_type) REFERENCES billing.line_type (line_type),
    CONSTRAINT invoice_line_kind_check CHECK (kind = 'invoice'),
    CONSTRAINT invoice_line_line_no_check CHECK (line_no > 0),
    CONSTRAINT invoice_line_quantity_check CHECK (quantity > 0),
    CONSTRAINT invoice_line_amount_check CHECK (
        CASE line_type
            WHEN 'discount' THEN amount < 0
            WHEN 'memo' THEN amount = 0 AND unit_amount IS NULL
            ELSE amount >= 0
        END
    ),
    CONSTRAINT invoice_line_unit_amount_check CHECK (unit_amount >= 0)
);

COMMENT ON TABLE billing.invoice_line IS
'A line of an invoice. Exactly one subtype row (invoice_product_line, invoice_fee_line, invoice_discount_line, '
'invoice_tax_line, invoice_memo_line) must match its line_type before the invoice can be issued.';
COMMENT ON COLUMN billing.invoice_line.kind IS
'Always invoice: lines belong to invoices, credit notes have credit_note_line.';
COMMENT ON COLUMN billing.invoice_line.unit_amount IS
'Price per unit where one applies; amount is then round_money(quantity * unit_amount).';
COMMENT ON COLUMN billing.invoice_line.amount IS
'Exact, in the invoice currency''s minor units. Negative for discounts, 0 for memos.';

CREATE TABLE billing.invoice_product_line (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    line_no integer NOT NULL,
    line_type text NOT NULL DEFAULT 'product',
    order_id bigint NOT NULL,
    order_line_no integer NOT NULL,
    CONSTRAINT invoice_product_line_pkey PRIMARY KEY (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_product_line_line_fkey FOREIGN KEY (customer_id, invoice_id, line_no, line_type)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no, line_type) ON DELETE CASCADE,
    CONSTRAINT invoice_product_line_order_line_fkey FOREIGN KEY (customer_id, order_id, order_line_no)
    REFERENCES billing.order_line (customer_id, order_id, line_no),
    CONSTRAINT invoice_product_line_line_type_check CHECK (line_type = 'product')
);

CREATE INDEX invoice_product_line_order_line_idx
ON billing.invoice_product_line (customer_id, order_id, order_line_no);

COMMENT ON TABLE billing.invoice_product_line IS
'Subtype of a product line: the order line it bills (same customer, by the composite key). '
'The line''s quantity is the quantity billed, its unit_amount the order line''s unit price.';

CREATE TABLE billing.invoice_fee_line (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    line_no integer NOT NULL,
    line_type text NOT NULL DEFAULT 'fee',
    fee_code text NOT NULL,
    order_id bigint,
    order_charge_no integer,
    CONSTRAINT invoice_fee_line_pkey PRIMARY KEY (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_fee_line_line_fkey FOREIGN KEY (customer_id, invoice_id, line_no, line_type)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no, line_type) ON DELETE CASCADE,
    CONSTRAINT invoice_fee_line_fee_fkey FOREIGN KEY (fee_code) REFERENCES billing.fee (fee_code),
    CONSTRAINT invoice_fee_line_order_fkey FOREIGN KEY (customer_id, order_id)
    REFERENCES billing.sales_order (customer_id, order_id),
    CONSTRAINT invoice_fee_line_order_charge_fkey FOREIGN KEY (customer_id, order_id, order_charge_no)
    REFERENCES billing.order_charge (customer_id, order_id, charge_no),
    CONSTRAINT invoice_fee_line_line_type_check CHECK (line_type = 'fee'),
    CONSTRAINT invoice_fee_line_order_charge_check CHECK (order_charge_no IS NULL OR order_id IS NOT NULL)
);

CREATE INDEX invoice_fee_line_order_idx ON billing.invoice_fee_line (customer_id, order_id) WHERE order_id IS NOT NULL;

COMMENT ON TABLE billing.invoice_fee_line IS
'Subtype of a fee line: the fee, and optionally the order (and order charge) it bills. '
'With no order it is a charge of its own, e.g. an ad-hoc licence fee.';

CREATE TABLE billing.invoice_discount_line (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    line_no integer NOT NULL,
    line_type text NOT NULL DEFAULT 'discount',
    applies_to_line_no integer,
    CONSTRAINT invoice_discount_line_pkey PRIMARY KEY (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_discount_line_line_fkey FOREIGN KEY (customer_id, invoice_id, line_no, line_type)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no, line_type) ON DELETE CASCADE,
    CONSTRAINT invoice_discount_line_applies_to_fkey FOREIGN KEY (customer_id, invoice_id, applies_to_line_no)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_discount_line_line_type_check CHECK (line_type = 'discount'),
    CONSTRAINT invoice_discount_line_applies_to_check CHECK (applies_to_line_no <> line_no)
);

COMMENT ON TABLE billing.invoice_discount_line IS
'Subtype of a discount line (negative amount): optionally the line of the same invoice it applies to.';

CREATE TABLE billing.invoice_tax_line (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    line_no integer NOT NULL,
    line_type text NOT NULL DEFAULT 'tax',
    tax_code text NOT NULL,
    rate numeric NOT NULL,
    taxable_amount numeric NOT NULL,
    CONSTRAINT invoice_tax_line_pkey PRIMARY KEY (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_tax_line_line_fkey FOREIGN KEY (customer_id, invoice_id, line_no, line_type)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no, line_type) ON DELETE CASCADE,
    CONSTRAINT invoice_tax_line_tax_authority_fkey FOREIGN KEY (tax_code)
    REFERENCES billing.tax_authority (tax_code),
    CONSTRAINT invoice_tax_line_line_type_check CHECK (line_type = 'tax'),
    CONSTRAINT invoice_tax_line_rate_check CHECK (rate >= 0 AND rate <= 1),
    CONSTRAINT invoice_tax_line_taxable_amount_check CHECK (taxable_amount >= 0)
);

COMMENT ON TABLE billing.invoice_tax_line IS
'Subtype of a tax line: authority, rate and taxable amount; the line amount is round_money(taxable_amount * rate).';
COMMENT ON COLUMN billing.invoice_tax_line.rate IS 'A fraction: 0.19 is 19 %.';

CREATE TABLE billing.invoice_memo_line (
    customer_id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    line_no integer NOT NULL,
    line_type text NOT NULL DEFAULT 'memo',
    memo text NOT NULL,
    CONSTRAINT invoice_memo_line_pkey PRIMARY KEY (customer_id, invoice_id, line_no),
    CONSTRAINT invoice_memo_line_line_fkey FOREIGN KEY (customer_id, invoice_id, line_no, line_type)
    REFERENCES billing.invoice_line (customer_id, invoice_id, line_no, line_type) ON DELETE CASCADE,
    CONSTRAINT invoice_memo_line_line_type_check CHECK (line_type = 'memo'),
    CONSTRAINT invoice_memo_line_memo_check CHECK (memo <> '')
);

COMMENT ON TABLE billing.invoice_memo_line IS 'Subtype of a memo line: text printed on the invoice, amount 0.';
