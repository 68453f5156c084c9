-- One statement per statement of 0012_report_indexes.sql, in reverse order: yoyo pairs them to undo a failed run.
ANALYZE billing.payment_balance;
ANALYZE billing.invoice_balance;
CREATE INDEX CONCURRENTLY payment_balance_open_idx ON billing.payment_balance (customer_id, payment_id)
WHERE allocated + refunded + voided < amount;
DROP STATISTICS billing.payment_balance_open_amount_stat;
DROP INDEX CONCURRENTLY billing.payment_balance_open_amount_idx;

CREATE INDEX CONCURRENTLY invoice_balance_open_idx ON billing.invoice_balance (customer_id, invoice_id)
WHERE allocated + refunded < total;
DROP STATISTICS billing.invoice_balance_open_amount_stat;
DROP INDEX CONCURRENTLY billing.invoice_balance_open_amount_idx;

DROP INDEX CONCURRENTLY billing.payment_cancellation_recorded_at_idx;
DROP INDEX CONCURRENTLY billing.refund_recorded_at_idx;
DROP INDEX CONCURRENTLY billing.write_off_written_off_at_idx;
DROP INDEX CONCURRENTLY billing.allocation_allocated_at_idx;
DROP INDEX CONCURRENTLY billing.invoice_issued_at_idx;
