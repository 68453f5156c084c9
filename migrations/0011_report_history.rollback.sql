DROP INDEX billing.payment_cancellation_recorded_at_idx;
DROP INDEX billing.refund_recorded_at_idx;
DROP INDEX billing.write_off_written_off_at_idx;
DROP INDEX billing.allocation_allocated_at_idx;
DROP INDEX billing.invoice_issued_at_idx;
-- CASCADE: views and functions/ objects that read the column go with it; the next migrate re-creates them.
ALTER TABLE billing.payment_cancellation DROP COLUMN recorded_at CASCADE;
