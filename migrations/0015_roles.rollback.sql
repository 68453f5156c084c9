-- Gives schema billing back to the migrating user, takes the roles' privileges in it away and makes its functions
-- ordinary again (callable by PUBLIC, running as their caller), as before 0015. The roles stay: they belong to the
-- cluster and other databases may use them; DROP ROLE them by hand once none does.
DO $$
DECLARE
    v_function regprocedure;
BEGIN
    FOR v_function IN
        SELECT p.oid FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'billing'::regnamespace AND (p.prosecdef OR p.proconfig IS NOT NULL)
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY INVOKER RESET ALL', v_function);
    END LOOP;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA billing FROM billing_app, billing_reader;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA billing FROM billing_app, billing_reader;
REVOKE ALL ON SCHEMA billing FROM billing_app, billing_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA billing TO PUBLIC; -- noqa: CP02
REASSIGN OWNED BY billing_owner TO CURRENT_USER;
ALTER TABLE billing.allocation ALTER COLUMN allocated_by SET DEFAULT current_user;
