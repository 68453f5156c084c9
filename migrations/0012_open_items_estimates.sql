-- 0012_open_items_estimates: the open-items partial indexes of 0009 get a predicate the planner can estimate.
-- It estimated "allocated + refunded < total" (two sides of columns) at a fixed third of the table, so on a large
-- history reports scanned whole tables instead of the few open rows. The predicate is now the open amount
-- compared with 0, and statistics on the open amount tell the planner how few rows are open.
-- Locks: SHARE on billing.invoice_balance and billing.payment_balance while the indexes build (blocks issuing,
-- allocating and refunding, not reads); ANALYZE afterwards (or autovacuum) fills the statistics.
DROP INDEX billing.invoice_balance_open_idx;
CREATE INDEX invoice_balance_open_idx ON billing.invoice_balance (customer_id, invoice_id)
WHERE total - allocated - refunded > 0;
CREATE STATISTICS billing.invoice_balance_open_stat ON (total - allocated - refunded) FROM billing.invoice_balance;

DROP INDEX billing.payment_balance_open_idx;
CREATE INDEX payment_balance_open_idx ON billing.payment_balance (customer_id, payment_id)
WHERE amount - allocated - refunded - voided > 0;
CREATE STATISTICS billing.payment_balance_open_stat ON (amount - allocated - refunded - voided)
FROM billing.payment_balance;
