-- transactional: false
-- 0012_report_indexes: indexes for reports, built CONCURRENTLY, so this migration runs outside a transaction.
-- The history tables get indexes on their recording times, so a report as of a past moment reads what happened
-- since then, not all history; invoice gets one on issued_at for period reports (tax, revenue).
-- The open-items partial indexes of 0009 are rebuilt with a predicate the planner can estimate: it took
-- "allocated + refunded < total" (columns on both sides) for a fixed third of the table, so on a long history
-- reports scanned whole tables instead of the few open rows. Now it is the open amount compared with 0, and
-- statistics on the open amount tell the planner how few rows are open.
-- Locks: none that block reads or writes (CONCURRENTLY). If it fails, the indexes it built are dropped again,
-- but the one it was building may be left INVALID: drop that one (DROP INDEX CONCURRENTLY) before migrating again.
CREATE INDEX CONCURRENTLY invoice_issued_at_idx ON billing.invoice (issued_at) WHERE status = 'issued';
CREATE INDEX CONCURRENTLY allocation_allocated_at_idx ON billing.allocation (allocated_at);
CREATE INDEX CONCURRENTLY write_off_written_off_at_idx ON billing.write_off (written_off_at);
CREATE INDEX CONCURRENTLY refund_recorded_at_idx ON billing.refund (recorded_at);
CREATE INDEX CONCURRENTLY payment_cancellation_recorded_at_idx ON billing.payment_cancellation (recorded_at);

CREATE INDEX CONCURRENTLY invoice_balance_open_amount_idx ON billing.invoice_balance (customer_id, invoice_id)
WHERE total - allocated - refunded > 0;
CREATE STATISTICS billing.invoice_balance_open_amount_stat ON (total - allocated - refunded)
FROM billing.invoice_balance;
DROP INDEX CONCURRENTLY billing.invoice_balance_open_idx;

CREATE INDEX CONCURRENTLY payment_balance_open_amount_idx ON billing.payment_balance (customer_id, payment_id)
WHERE amount - allocated - refunded - voided > 0;
CREATE STATISTICS billing.payment_balance_open_amount_stat ON (amount - allocated - refunded - voided)
FROM billing.payment_balance;
DROP INDEX CONCURRENTLY billing.payment_balance_open_idx;

-- The new statistics are empty until the tables are analyzed.
ANALYZE billing.invoice_balance;
ANALYZE billing.payment_balance;
