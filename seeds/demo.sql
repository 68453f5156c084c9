-- Demo data for `pgbilling demo` and `pgbilling seed demo`, written against the public SQL API.
-- The scenarios (an order paid twice after a late fee, a partial shipment, a credit note,
-- one payment for two orders, a disputed invoice) are added here as the API that
-- records them lands (orders and invoices, then payments). Until then this seed loads nothing.
SELECT 'pgbilling demo seed: no domain API yet' AS note;
