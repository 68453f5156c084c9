-- 0009_open_items_index: a partial index on the documents that still have something open (an invoice not
-- fully paid, a credit note not fully applied or refunded), so allocation strategies and reports read a
-- customer's open items only, however long their paid history.
-- Locks: SHARE on billing.invoice_balance while the index builds (blocks issuing and allocating, not reads).
CREATE INDEX invoice_balance_open_idx ON billing.invoice_balance (customer_id, invoice_id)
WHERE allocated + refunded < total;

CREATE INDEX payment_balance_open_idx ON billing.payment_balance (customer_id, payment_id)
WHERE allocated + refunded + voided < amount;
