DROP STATISTICS billing.payment_balance_open_stat;
DROP INDEX billing.payment_balance_open_idx;
CREATE INDEX payment_balance_open_idx ON billing.payment_balance (customer_id, payment_id)
WHERE allocated + refunded + voided < amount;

DROP STATISTICS billing.invoice_balance_open_stat;
DROP INDEX billing.invoice_balance_open_idx;
CREATE INDEX invoice_balance_open_idx ON billing.invoice_balance (customer_id, invoice_id)
WHERE allocated + refunded < total;
