-- One statement per statement of 0013_payment_no_per_customer.sql, in reverse order: yoyo pairs them to undo a
-- failed run. The swap back builds the global index under ACCESS EXCLUSIVE and fails, changing nothing, when two
-- customers share a payment number.
COMMENT ON COLUMN billing.payment.payment_no IS
'Unique across the system: given by the shop or the payment gateway, or PAY-<payment_id>. '
'Recording is idempotent on it.';
ALTER TABLE billing.payment
DROP CONSTRAINT payment_payment_no_key,
ADD CONSTRAINT payment_payment_no_key UNIQUE (payment_no);
DROP INDEX IF EXISTS billing.payment_customer_payment_no_idx;
