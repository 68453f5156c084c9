-- The functions of this release set and read recorded_at: after rolling back, install the pgbilling release that
-- matches and run its migrate, which puts its own functions back (README, Rolling back).
ALTER TABLE billing.payment_cancellation DROP COLUMN recorded_at;
