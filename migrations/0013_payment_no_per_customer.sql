-- transactional: false
-- 0013_payment_no_per_customer: a payment number is unique per customer, not across all customers, so the key
-- holds customer_id like every other key of a customer-owned table (a rule for sharding by customer, README
-- Scale-out). Numbers PAY-<payment_id> stay unique anyway; a gateway's number may now repeat across customers.
-- Runs outside a transaction: the new unique index is built CONCURRENTLY (no lock that blocks writes), then
-- swapped in for the old constraint in one statement (ACCESS EXCLUSIVE on billing.payment for an instant, no
-- scan). From the swap until `migrate` re-applies functions/ (the same run, moments later) the previous
-- record_payment fails (42P10): run it when no payment is being recorded, or retry those calls. If it fails while
-- building, drop the INVALID index billing.payment_customer_payment_no_idx before migrating again.
CREATE UNIQUE INDEX CONCURRENTLY payment_customer_payment_no_idx ON billing.payment (customer_id, payment_no);
ALTER TABLE billing.payment
DROP CONSTRAINT payment_payment_no_key,
ADD CONSTRAINT payment_payment_no_key UNIQUE USING INDEX payment_customer_payment_no_idx;
COMMENT ON COLUMN billing.payment.payment_no IS
'Unique per customer: given by the shop or the payment gateway, or PAY-<payment_id>. Recording is idempotent on '
'it (the same customer and number return the payment recorded first).';
