-- CASCADE: functions/ objects built on the table go with it; the next migrate re-creates them.
DROP TABLE billing.customer_document_series CASCADE;
ALTER TABLE billing.document_series DROP COLUMN scope;
