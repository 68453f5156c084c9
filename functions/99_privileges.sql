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

-- The writing API: billing_app only.
ALTER FUNCTION billing.create_customer SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.create_product SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.place_order SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_order_line SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_order_charge SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.cancel_order SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.bill_order SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.create_invoice SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_product_line SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_fee_line SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_discount_line SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_tax_line SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.add_memo_line SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.issue_invoice SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.issue_new_invoice SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.issue_credit_note SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.void_invoice SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.dispute_invoice SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.resolve_dispute SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.record_payment SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.cancel_payment SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.allocate_payment SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.apply_credit_note SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.auto_allocate SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.pay_invoices SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.unallocate SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.refund SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.write_off SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';

GRANT EXECUTE ON FUNCTION
billing.create_customer, billing.create_product, billing.place_order, billing.add_order_line,
billing.add_order_charge, billing.cancel_order, billing.bill_order, billing.create_invoice, billing.add_product_line,
billing.add_fee_line, billing.add_discount_line, billing.add_tax_line, billing.add_memo_line, billing.issue_invoice,
billing.issue_new_invoice, billing.issue_credit_note, billing.void_invoice, billing.dispute_invoice,
billing.resolve_dispute, billing.record_payment, billing.cancel_payment, billing.allocate_payment,
billing.apply_credit_note, billing.auto_allocate, billing.pay_invoices, billing.unallocate, billing.refund,
billing.write_off
TO billing_app;

-- The reading API: both roles. Reports read every table, so they too run as billing_owner.
ALTER FUNCTION billing.open_invoices SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.open_items SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.ar_aging SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.customer_statement SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.tax_summary SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.revenue_by_line_type SECURITY DEFINER SET search_path = billing, pg_temp
SET lock_timeout = '5s';
ALTER FUNCTION billing.verify_chain SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
ALTER FUNCTION billing.chain_heads SECURITY DEFINER SET search_path = billing, pg_temp SET lock_timeout = '5s';
-- Views run as their owner, but the functions they call run as the reader: rounding reads billing.currency. (No
-- lock_timeout: it runs once per row of a view, and reads one row of a lookup table.)
ALTER FUNCTION billing.minor_units SECURITY DEFINER SET search_path = billing, pg_temp;

GRANT EXECUTE ON FUNCTION
billing.open_invoices, billing.open_items, billing.ar_aging, billing.customer_statement, billing.tax_summary,
billing.revenue_by_line_type, billing.verify_chain, billing.chain_heads, billing.minor_units, billing.round_money
TO billing_app, billing_reader;

GRANT SELECT ON
billing.order_summary, billing.invoice_summary, billing.invoice_line_summary, billing.payment_summary,
billing.customer_balance, billing.active_allocation, billing.unapplied_cash
TO billing_app, billing_reader;

-- A deferred trigger runs at commit, and before PostgreSQL 17 as whoever commits, not as the role whose statement
-- queued it: billing_app, which may not read the tables it checks. So it runs as billing_owner.
ALTER FUNCTION billing.refund_complete SECURITY DEFINER SET search_path = billing, pg_temp;

-- The row level security policies call it as whoever reads (functions/98_row_security.sql).
GRANT EXECUTE ON FUNCTION billing.session_customer TO billing_app, billing_reader;
