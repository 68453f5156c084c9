-- 0014_customer_number_series: a number series can be kept per customer. document_series.scope is 'global'
-- (one gapless series for all customers: INV-000042, the default) or 'per_customer' (a gapless series per
-- customer, the customer in the number: INV-7-000042), counted in customer_document_series, a customer-owned
-- table, so issuing touches only the customer's own rows (needed to shard by customer: README Scale-out).
-- Locks: ACCESS EXCLUSIVE on billing.document_series (two rows) for an instant; the new table gets a row per
-- customer and series (reads billing.customer).
ALTER TABLE billing.document_series
ADD COLUMN scope text NOT NULL DEFAULT 'global',
ADD CONSTRAINT document_series_scope_check CHECK (scope IN ('global', 'per_customer'));

COMMENT ON COLUMN billing.document_series.scope IS
'global: one series for all customers (PREFIX-000001); per_customer: one per customer, counted in '
'billing.customer_document_series (PREFIX-<customer_id>-000001). May be changed with UPDATE at any time; numbers '
'already issued keep their form.';

CREATE TABLE billing.customer_document_series (
    customer_id bigint NOT NULL,
    series text NOT NULL,
    next_no bigint NOT NULL,
    CONSTRAINT customer_document_series_pkey PRIMARY KEY (customer_id, series),
    CONSTRAINT customer_document_series_customer_fkey FOREIGN KEY (customer_id)
    REFERENCES billing.customer (customer_id),
    CONSTRAINT customer_document_series_series_fkey FOREIGN KEY (series) REFERENCES billing.document_series (series),
    CONSTRAINT customer_document_series_next_no_check CHECK (next_no > 0)
);

-- A row per customer and series from the start, so issuers can lock the customer's series before anything else.
INSERT INTO billing.customer_document_series (customer_id, series, next_no)
SELECT
    c.customer_id,
    s.series,
    1 AS next_no
FROM billing.customer AS c CROSS JOIN billing.document_series AS s;

COMMENT ON TABLE billing.customer_document_series IS
'The gapless number series of one customer, used for series whose scope is per_customer: a row per customer and '
'series, created with the customer, locked by each issue until commit, so numbers are gapless per customer and '
'customers do not wait for each other.';
COMMENT ON COLUMN billing.customer_document_series.series IS
'The series it counts for the customer (billing.document_series: invoice, credit_note).';
COMMENT ON COLUMN billing.customer_document_series.next_no IS
'The number the customer''s next document in the series gets; only issuing advances it, by one (PB002).';
