-- 0011_payment_cancellation_recorded_at: payment_cancellation gains recorded_at, when pgbilling canceled the
-- payment and voided its rest (canceled_time is the business time a caller gives), so point-in-time reports can
-- tell when a voided amount stopped being open credit.
-- Locks: ACCESS EXCLUSIVE on billing.payment_cancellation while recorded_at is added and filled (one row per
-- canceled payment: few).
ALTER TABLE billing.payment_cancellation ADD COLUMN recorded_at timestamptz;

-- An existing cancellation was recorded no earlier than its business time and than anything recorded on its
-- payment (a canceled payment has no later history: the reversals of its allocations came with it), and not after
-- now. The triggers refuse any UPDATE of history, so they are off for this one statement (the whole migration is
-- one transaction).
ALTER TABLE billing.payment_cancellation DISABLE TRIGGER USER;
UPDATE billing.payment_cancellation AS c SET recorded_at = least(now(), greatest(
    c.canceled_time,
    (
        SELECT p.recorded_at FROM billing.payment AS p
        WHERE p.customer_id = c.customer_id AND p.payment_id = c.payment_id
    ),
    (
        SELECT max(a.allocated_at) FROM billing.allocation AS a
        WHERE a.customer_id = c.customer_id AND a.payment_id = c.payment_id
    ),
    (
        SELECT max(r.recorded_at) FROM billing.refund_part AS rp
        INNER JOIN billing.refund AS r ON rp.customer_id = r.customer_id AND rp.refund_id = r.refund_id
        WHERE rp.customer_id = c.customer_id AND rp.payment_id = c.payment_id
    )
));
ALTER TABLE billing.payment_cancellation ENABLE TRIGGER USER;

ALTER TABLE billing.payment_cancellation
ALTER COLUMN recorded_at SET NOT NULL,
ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();

COMMENT ON COLUMN billing.payment_cancellation.recorded_at IS
'When pgbilling canceled the payment and voided its rest (after its allocations were reversed): what '
'point-in-time reports go by. canceled_time is the business time of the cancellation.';
