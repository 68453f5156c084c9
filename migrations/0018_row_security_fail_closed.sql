-- 0018_row_security_fail_closed: row level security fails closed (README, Security). Until now a session that named
-- no customer was not filtered at all: a pooled connection after DISCARD ALL saw every customer. From now on it
-- sees no customer's rows, and the API refuses its calls with 42501, unless its login works across customers:
-- billing.session_all_customers() says so, for members of the new role billing_all_customers (jobs across
-- customers; a DBA grants it), of billing_reader and not billing_app (accountants), and of billing_owner (DBAs).
-- The role is created when missing (cluster-wide, NOLOGIN, no privilege of its own) and kept by the rollback, as
-- 0015 does. The function is defined here because the policies need it now; functions/98_row_security.sql holds
-- the same definition and replaces it on every migrate. Every existing customer_isolation policy gets the new
-- expression; databases where functions/ was never applied have none yet, 98_row_security.sql creates them so.
-- Row security stays as it was (off unless billing.set_row_security(true) switched it on).
-- Locks: ALTER POLICY takes an ACCESS EXCLUSIVE lock on each customer-owned table for an instant (no rewrite, no
-- scan); it waits for the statements running on the table, and the statements after it wait for it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'billing_all_customers') THEN
        CREATE ROLE billing_all_customers NOLOGIN;
        COMMENT ON ROLE billing_all_customers IS
        'pgbilling: with row level security on, its members may read and write every customer''s rows without '
        'naming one (jobs across customers); grants no privilege of its own.';
    END IF;
END
$$;

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

-- Nothing is PUBLIC's (functions/99_privileges.sql grants it anew on every migrate).
REVOKE ALL ON FUNCTION billing.session_all_customers() FROM PUBLIC; -- noqa: CP02
GRANT EXECUTE ON FUNCTION billing.session_all_customers() TO billing_app, billing_reader;

DO $$
DECLARE
    v_table regclass;
BEGIN
    FOR v_table IN
        SELECT p.polrelid FROM pg_catalog.pg_policy AS p
        JOIN pg_catalog.pg_class AS c ON c.oid = p.polrelid
        WHERE c.relnamespace = 'billing'::regnamespace AND p.polname = 'customer_isolation'
        ORDER BY 1
    LOOP
        EXECUTE format('ALTER POLICY customer_isolation ON %s '
            'USING (customer_id = billing.session_customer() OR (SELECT billing.session_all_customers()))', v_table);
    END LOOP;
END
$$;
