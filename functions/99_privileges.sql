-- Privileges, applied after every other file on every migrate, so that whatever a later migration or function
-- file adds is covered too. The roles come from migration 0015 (README, Security):
--   billing_owner  owns every object of schema billing; nobody logs in as it.
--   billing_app    calls the API functions and reads the views; no privilege on any table.
--   billing_reader reads the views and runs the reports.
-- The API functions run as billing_owner (SECURITY DEFINER): that is how a role with no table privilege writes
-- through them, and every rule stays in the triggers and constraints they fire. Each pins
-- search_path = billing, pg_temp, so no object a caller creates (in public, or a temporary table or operator) is
-- ever resolved instead of pgbilling's, and lock_timeout, so a call that waits for a row locked by another
-- transaction fails with 55P03 after 5 s instead of waiting forever (README, Errors: retry it).

-- Every object of the schema belongs to billing_owner (identity sequences and triggers follow their tables).
DO $$
DECLARE
    v_statement text;
BEGIN
    FOR v_statement IN
        SELECT format('ALTER %s %s OWNER TO billing_owner',
            CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass)
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
            AND c.relowner <> 'billing_owner'::regrole
            AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d  -- an identity sequence goes with its table
                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO billing_owner', p.oid::regprocedure)
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'billing'::regnamespace AND p.proowner <> 'billing_owner'::regrole
        UNION ALL
        SELECT format('ALTER STATISTICS %I.%I OWNER TO billing_owner', 'billing', s.stxname)
        FROM pg_catalog.pg_statistic_ext AS s
        WHERE s.stxnamespace = 'billing'::regnamespace AND s.stxowner <> 'billing_owner'::regrole
    LOOP
        EXECUTE v_statement;
    END LOOP;
END
$$;

-- Nothing is PUBLIC's (CP02 mistakes the keyword for a name); the two client roles may see the schema.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA billing FROM PUBLIC; -- noqa: CP02
REVOKE ALL ON SCHEMA billing FROM PUBLIC; -- noqa: CP02
GRANT USAGE ON SCHEMA billing TO billing_app, billing_reader;
-- What the two roles may do is granted below, anew: a function or view dropped from these lists loses its grant.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA billing FROM billing_app, billing_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA billing FROM billing_app, billing_reader;

-- The writing API (billing_app only) and the reading API (both roles; reports read every table, so they too run
-- as billing_owner): each function is made definer and granted from one list, so the two cannot drift apart.
DO $$
DECLARE
    v_function text;
    v_writing constant text [] := ARRAY[
        'create_customer', 'create_product', 'place_order', 'add_order_line', 'add_order_charge', 'cancel_order',
        'bill_order', 'create_invoice', 'add_product_line', 'add_fee_line', 'add_discount_line', 'add_tax_line',
        'add_memo_line', 'issue_invoice', 'issue_new_invoice', 'issue_credit_note', 'void_invoice',
        'dispute_invoice', 'resolve_dispute', 'record_payment', 'cancel_payment', 'allocate_payment',
        'apply_credit_note', 'auto_allocate', 'pay_invoices', 'unallocate', 'refund', 'write_off'
    ];
    v_reading constant text [] := ARRAY[
        'open_invoices', 'open_items', 'ar_aging', 'customer_statement', 'tax_summary', 'revenue_by_line_type',
        'verify_chain', 'chain_heads', 'verify_balances'
    ];
BEGIN
    FOREACH v_function IN ARRAY v_writing || v_reading LOOP
        EXECUTE format('ALTER FUNCTION billing.%I SECURITY DEFINER SET search_path = billing, pg_temp '
            'SET lock_timeout = %L', v_function, '5s');
        EXECUTE format('GRANT EXECUTE ON FUNCTION billing.%I TO billing_app%s', v_function,
            CASE WHEN v_function = ANY (v_reading) THEN ', billing_reader' ELSE '' END);
    END LOOP;
END
$$;

-- Views run as their owner, but the functions they call run as the reader: rounding reads billing.currency. (No
-- lock_timeout: it runs once per row of a view, and reads one row of a lookup table.)
ALTER FUNCTION billing.minor_units SECURITY DEFINER SET search_path = billing, pg_temp;

GRANT EXECUTE ON FUNCTION billing.minor_units, billing.round_money TO billing_app, billing_reader;

GRANT SELECT ON
billing.order_summary, billing.invoice_summary, billing.invoice_line_summary, billing.payment_summary,
billing.customer_balance, billing.active_allocation, billing.unapplied_cash
TO billing_app, billing_reader;

-- A deferred trigger runs at commit, and before PostgreSQL 17 as whoever commits, not as the role whose statement
-- queued it: billing_app, which may not read the tables it checks. So it runs as billing_owner.
ALTER FUNCTION billing.refund_complete SECURITY DEFINER SET search_path = billing, pg_temp;

-- The row level security policies call them as whoever reads (functions/98_row_security.sql).
GRANT EXECUTE ON FUNCTION billing.session_customer, billing.session_all_customers TO billing_app, billing_reader;
