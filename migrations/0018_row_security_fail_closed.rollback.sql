-- Row level security fails open again, as before 0018: a session that names no customer is not filtered. Every
-- customer_isolation policy gets its former expression back (ACCESS EXCLUSIVE on each customer-owned table for an
-- instant), then billing.session_all_customers goes. The role billing_all_customers stays: it belongs to the
-- cluster and other databases may use it; DROP ROLE it by hand once none does.
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
            'USING (customer_id = coalesce(billing.session_customer(), customer_id))', v_table);
    END LOOP;
END
$$;

DROP FUNCTION billing.session_all_customers();
