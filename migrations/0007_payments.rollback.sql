-- CASCADE: views and functions/ objects built on these tables go with them; the next migrate re-creates them.
DROP TABLE billing.payment_cancellation CASCADE;
DROP TABLE billing.payment_balance CASCADE;
DROP TABLE billing.payment CASCADE;
DROP TABLE billing.payment_method CASCADE;
