-- CASCADE: views and functions/ objects built on this table go with it; the next migrate re-creates them.
DROP TABLE billing.invoice_dispute CASCADE;
