-- CASCADE: views and functions/ objects built on these tables go with them; the next migrate re-creates them.
DROP TABLE billing.write_off CASCADE;
DROP TABLE billing.refund_part CASCADE;
DROP TABLE billing.refund CASCADE;
