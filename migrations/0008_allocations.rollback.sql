-- CASCADE: views and functions/ objects built on these go with them; the next migrate re-creates them.
DROP TABLE billing.allocation CASCADE;
ALTER TABLE billing.invoice_balance DROP CONSTRAINT invoice_balance_allocated_check;
ALTER TABLE billing.invoice_balance DROP COLUMN refunded CASCADE, DROP COLUMN allocated CASCADE;
ALTER TABLE billing.invoice DROP CONSTRAINT invoice_currency_key;
