-- Row level security, off by default (README, Security): once billing.set_row_security(true) switches it on, a
-- session that names the customer it acts for (SET pgbilling.customer_id = '7') sees and writes the rows of that
-- customer only, in every customer-owned table, through the API, the views and the reports alike: the policies are
-- FORCEd, so they bind billing_owner too, the role the API functions and views run as. A session that names no
-- customer is not filtered (DBAs, accountants, jobs across customers). Superusers are never filtered.

CREATE OR REPLACE FUNCTION billing.session_customer() RETURNS bigint
LANGUAGE sql
STABLE
AS $$
    SELECT nullif(current_setting('pgbilling.customer_id', true), '')::bigint
$$;

COMMENT ON FUNCTION billing.session_customer() IS
'The customer this session acts for (SET pgbilling.customer_id), or NULL when it names none; the row level security '
'policies compare customer_id with it.';

-- One policy per customer-owned table (those with a customer_id column), created on the migrate that finds it
-- missing, so tables added later get theirs (and row security, when it is on); the others are left alone: a
-- policy's creation locks its table. A changed policy needs a migration.
DO $$
DECLARE
    v_table regclass;
    v_on boolean := (SELECT c.relrowsecurity FROM pg_catalog.pg_class AS c WHERE c.oid = 'billing.customer'::regclass);
BEGIN
    FOR v_table IN
        SELECT c.oid FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = c.oid AND a.attname = 'customer_id' AND NOT a.attisdropped)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy AS p
            WHERE p.polrelid = v_table AND p.polname = 'customer_isolation') THEN
            EXECUTE format('CREATE POLICY customer_isolation ON %s '
                'USING (customer_id = coalesce(billing.session_customer(), customer_id))', v_table);
        END IF;
        IF v_on AND NOT (SELECT c.relrowsecurity FROM pg_catalog.pg_class AS c WHERE c.oid = v_table) THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_table);
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION billing.set_row_security(p_on boolean) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_table regclass;
BEGIN
    FOR v_table IN
        SELECT p.polrelid FROM pg_catalog.pg_policy AS p
        JOIN pg_catalog.pg_class AS c ON c.oid = p.polrelid
        WHERE c.relnamespace = 'billing'::regnamespace AND p.polname = 'customer_isolation'
        ORDER BY 1
    LOOP
        EXECUTE format(CASE WHEN billing.require(p_on, 'p_on')
            THEN 'ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY'
            ELSE 'ALTER TABLE %s DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY' END, v_table);
    END LOOP;
END
$$;

COMMENT ON FUNCTION billing.set_row_security(boolean) IS
'For DBAs (the owner of schema billing): switches row level security by customer on (true) or off (false, the '
'default) in every customer-owned table. Takes an ACCESS EXCLUSIVE lock on each table for a moment.';
