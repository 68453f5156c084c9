-- Comparison 2: record a payment and auto_allocate it for one customer, then roll back, so every transaction sees
-- the same open invoices and history.
BEGIN;
SELECT billing.record_payment(:cid, 'EUR', 25.00, 'CARD') AS pid \gset
SELECT count(*) FROM billing.auto_allocate(:cid, :pid);
ROLLBACK;
