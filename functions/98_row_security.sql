-- Row level security, off by default (README, Security): once billing.set_row_security(true) switches it on, every
-- customer-owned table is filtered by the customer the session names (SET pgbilling.customer_id = '7'): such a
-- session sees and writes the rows of that customer only, through the API, the views and the reports alike. The
-- policies are FORCEd, so they bind billing_owner too, the role the API functions and views run as.
-- It fails closed: a session that names no customer (never set, set to '', or reset by DISCARD ALL or RESET ALL)
-- sees no customer's rows, and every API function it calls is refused with 42501 as soon as it reads or writes a
-- customer's row, unless its login works across customers (billing.session_all_customers): a member of
-- billing_all_customers (jobs), of billing_reader and not of billing_app (accountants: read only), or of
-- billing_owner (DBAs; superusers are members of every role). The decision is on session_user, the login: inside
-- the API current_user is billing_owner, and SET ROLE changes current_user only. Migration 0018 gave the policies
-- of an existing database this expression; the block below gives it to the tables that have no policy yet.

CREATE OR REPLACE FUNCTION billing.session_customer() RETURNS bigint
LANGUAGE sql
STABLE
AS $$
    SELECT nullif(current_setting('pgbilling.customer_id', true), '')::bigint
$$;

COMMENT ON FUNCTION billing.session_customer() IS
'The customer this session acts for (SET pgbilling.customer_id), or NULL when it names none; the row level security '
'policies compare customer_id with it.';

-- Called once per statement (the policies wrap it in a scalar subquery), as the caller: current_user tells whether
-- the call comes from inside the API (billing_owner) or from a view read directly. Its search_path is pinned, so no
-- function or operator a caller creates is resolved in its place; it is no SECURITY DEFINER (current_user would
-- always be billing_owner). Also in migration 0018, which needs it for the policies before this file runs.
CREATE OR REPLACE FUNCTION billing.session_all_customers() RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing.session_customer() IS NOT NULL THEN
        RETURN FALSE;  -- a session that names a customer acts for that customer only, whoever logged in
    END IF;
    IF pg_has_role(session_user, 'billing_owner', 'MEMBER')
        OR pg_has_role(session_user, 'billing_all_customers', 'MEMBER')
        OR (pg_has_role(session_user, 'billing_reader', 'MEMBER')
            AND NOT pg_has_role(session_user, 'billing_app', 'MEMBER')) THEN
        RETURN TRUE;
    END IF;
    IF current_user = 'billing_owner' THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('the session of login %s names no customer: row level security refuses the call',
                session_user),
            DETAIL = format('Row level security is on: a session acts for the customer it names, and login %s is '
                'not a member of billing_all_customers.', session_user),
            HINT = 'SET pgbilling.customer_id = ''<id>'' (in a pooled connection: SET LOCAL, or '
            'set_config(''pgbilling.customer_id'', ''<id>'', true), in each transaction); for work across '
            'customers, log in as a member of billing_all_customers.';
    END IF;
    RETURN FALSE;  -- a view read directly: no rows
END
$$;

COMMENT ON FUNCTION billing.session_all_customers() IS
'Row level security (README, Security): true when the session names no customer and its login (session_user) works '
'across customers: a member of billing_all_customers, of billing_reader but not billing_app, or of billing_owner '
'(superusers too). False when the session names a customer. Otherwise false, no row, for a view read directly, and '
'42501 inside an API function: the session names no customer.';

-- One policy per customer-owned table (those with a customer_id column), created on the migrate that finds it
-- missing, so tables added later get theirs (and row security, when it is on), and altered on the migrate that
-- finds it different (migration 0018's expression called session_all_customers in a scalar subquery, which Citus
-- refuses in a policy); the others are left alone: creating or altering a policy locks its table.
DO $$
DECLARE
    v_table regclass;
    v_expression text;
    v_on boolean := (SELECT c.relrowsecurity FROM pg_catalog.pg_class AS c WHERE c.oid = 'billing.customer'::regclass);
BEGIN
    FOR v_table, v_expression IN
        SELECT c.oid, pg_catalog.pg_get_expr(p.polqual, p.polrelid)
        FROM pg_catalog.pg_class AS c
        LEFT JOIN pg_catalog.pg_policy AS p ON p.polrelid = c.oid AND p.polname = 'customer_isolation'
        WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = c.oid AND a.attname = 'customer_id' AND NOT a.attisdropped)
    LOOP
        IF v_expression IS DISTINCT FROM
            '((customer_id = billing.session_customer()) OR billing.session_all_customers())' THEN
            EXECUTE format('%s POLICY customer_isolation ON %s '
                'USING (customer_id = billing.session_customer() OR billing.session_all_customers())',
                CASE WHEN v_expression IS NULL THEN 'CREATE' ELSE 'ALTER' END, v_table);
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
