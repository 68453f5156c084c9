-- CASCADE: views and functions/ objects built on these tables go with them; the next migrate re-creates them.
DROP TABLE billing.invoice_memo_line CASCADE;
DROP TABLE billing.invoice_tax_line CASCADE;
DROP TABLE billing.invoice_discount_line CASCADE;
DROP TABLE billing.invoice_fee_line CASCADE;
DROP TABLE billing.invoice_product_line CASCADE;
DROP TABLE billing.invoice_line CASCADE;
DROP TABLE billing.invoice CASCADE;
