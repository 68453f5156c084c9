-- 0020_payment_return: payment_return, the bank's return of a payment (a bounce, a chargeback): a fact of its
-- own, apart from the payment's cancellation, so a payment that canceling its order refunded and canceled can still
-- be returned by the bank, and what was refunded out of a returned payment is billed back (billing.cancel_payment).
-- A new table: no lock that blocks writes on existing ones.
CREATE TABLE billing.payment_return (
    customer_id bigint NOT NULL,
    payment_id bigint NOT NULL,
    returned_at timestamptz NOT NULL,
    reason text NOT NULL,
    invoice_id bigint,
    CONSTRAINT payment_return_pkey PRIMARY KEY (customer_id, payment_id),
    CONSTRAINT payment_return_payment_fkey FOREIGN KEY (customer_id, payment_id)
    REFERENCES billing.payment (customer_id, payment_id),
    CONSTRAINT payment_return_invoice_fkey FOREIGN KEY (customer_id, invoice_id)
    REFERENCES billing.invoice (customer_id, invoice_id),
    CONSTRAINT payment_return_reason_blank_check CHECK (reason ~ '\S'),
    CONSTRAINT payment_return_reason_length_check CHECK (char_length(reason) <= 2000)
);

COMMENT ON TABLE billing.payment_return IS
'A payment the bank returned (bounced, charged back): when pgbilling learned of it and why. The payment is canceled '
'(billing.payment_cancellation) by it, or was before (its order canceled); what had been refunded out of it is '
'billed to the customer (invoice_id).';
COMMENT ON COLUMN billing.payment_return.invoice_id IS
'The invoice billing what had been refunded out of the payment before the bank returned it (fee RETURNED_PAYMENT); '
'NULL when nothing had been.';
