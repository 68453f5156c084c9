-- CASCADE: views and functions/ objects built on these tables go with them; the next migrate re-creates them.
DROP TABLE billing.document_series CASCADE;
DROP TABLE billing.line_type CASCADE;
DROP TABLE billing.tax_authority CASCADE;
DROP TABLE billing.fee CASCADE;
DROP TABLE billing.product CASCADE;
DROP TABLE billing.currency CASCADE;
