-- Refused (55000) once a series is kept per customer or a customer has a number from one: rolling back would
-- lose those counters and reuse their numbers.
DO $$
BEGIN
    IF EXISTS (SELECT FROM billing.customer_document_series AS s WHERE s.next_no > 1)
        OR EXISTS (SELECT FROM billing.document_series AS s WHERE s.scope = 'per_customer') THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'number series are kept per customer: rolling back 0014 would lose their counters',
            HINT = 'Roll forward instead; a database numbered per customer stays so.';
    END IF;
END
$$;
ALTER TABLE billing.document_series DROP COLUMN scope;
-- CASCADE: functions/ objects built on the table go with it; the next migrate re-creates them.
DROP TABLE billing.customer_document_series CASCADE;
