-- 0001_billing_schema: creates schema billing, where every pgbilling object lives.
-- Locks: none on existing objects (creates a new, empty schema).
CREATE SCHEMA billing;

COMMENT ON SCHEMA billing IS
'pgbilling: orders, immutable invoices, payments and their allocation. '
'Read through the views, write through the functions; every rule is also a constraint or trigger.';
