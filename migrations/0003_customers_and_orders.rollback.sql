-- CASCADE: views and functions/ objects built on these tables go with them; the next migrate re-creates them.
DROP TABLE billing.order_charge CASCADE;
DROP TABLE billing.order_line CASCADE;
DROP TABLE billing.sales_order CASCADE;
DROP TABLE billing.customer CASCADE;
