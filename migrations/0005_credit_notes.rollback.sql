-- CASCADE: views and functions/ objects built on these tables go with them; the next migrate re-creates them.
DROP TABLE billing.invoice_cancellation CASCADE;
DROP TABLE billing.invoice_balance CASCADE;
DROP TABLE billing.credit_note_line CASCADE;
