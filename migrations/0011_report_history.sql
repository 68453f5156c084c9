-- 0011_report_history: what point-in-time reports need. payment_cancellation gains recorded_at (when pgbilling
-- voided the payment's rest: canceled_time is the business time a caller gives), and the history tables get
-- indexes on their recording times, so a report as of a past moment reads what happened since then, not all
-- history; invoice gets one on issued_at for period reports (tax, revenue).
-- Locks: ACCESS EXCLUSIVE on billing.payment_cancellation while recorded_at is added and filled (its rows are
-- few); SHARE on billing.invoice, allocation, write_off and refund while their indexes build (blocks issuing,
-- allocating, writing off and refunding, not reads). On a large database run it when the shop is quiet.
ALTER TABLE billing.payment_cancellation ADD COLUMN recorded_at timestamptz;

-- Existing cancellations were recorded when they were canceled. Their triggers refuse any UPDATE of history,
-- so they are off for this one statement (the whole migration is one transaction).
ALTER TABLE billing.payment_cancellation DISABLE TRIGGER USER;
UPDATE billing.payment_cancellation SET recorded_at = canceled_time;
ALTER TABLE billing.payment_cancellation ENABLE TRIGGER USER;

ALTER TABLE billing.payment_cancellation
ALTER COLUMN recorded_at SET NOT NULL,
ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();

COMMENT ON COLUMN billing.payment_cancellation.recorded_at IS
'When pgbilling canceled the payment and voided its rest (after its allocations were reversed): what '
'point-in-time reports go by. canceled_time is the business time of the cancellation.';

CREATE INDEX invoice_issued_at_idx ON billing.invoice (issued_at) WHERE status = 'issued';
CREATE INDEX allocation_allocated_at_idx ON billing.allocation (allocated_at);
CREATE INDEX write_off_written_off_at_idx ON billing.write_off (written_off_at);
CREATE INDEX refund_recorded_at_idx ON billing.refund (recorded_at);
CREATE INDEX payment_cancellation_recorded_at_idx ON billing.payment_cancellation (recorded_at);
