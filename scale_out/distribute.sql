-- pgbilling on Citus: makes a migrated pgbilling database distributed by customer. Run it once, on the Citus
-- coordinator, as a superuser, after `pgbilling migrate` and once the worker nodes are added (citus_add_node):
--     psql -X -v ON_ERROR_STOP=1 -f scale_out/distribute.sql "$DATABASE_URL"      (or: pgbilling distribute)
-- What it does, in this order (README, Scale-out):
-- 1. Allows triggers on distributed tables (citus.enable_unsafe_triggers), now and for later sessions of this
--    database, so pgbilling's triggers can be created and `pgbilling migrate` can re-create them.
-- 2. Keeps every number series per customer (document_series.scope): issuing then writes only the customer's rows.
-- 3. Turns the lookup tables (no customer_id) into reference tables, copied to every node, before the tables
--    that refer to them.
-- 4. Distributes every customer-owned table by customer_id, co-located with customer, each after the tables it
--    refers to, so every row of one customer lives on one node and every rule stays a single-node transaction.
-- 5. Registers every function with Citus, so every node has it; one whose first argument is p_customer_id is
--    delegated: a call runs on the node of that customer.
-- Each step is generated from the catalog, so it covers tables and functions added by later migrations.
-- Run it on a database before it holds data: Citus copies existing rows into the shards through pgbilling's
-- triggers, which refuse them (issued documents are immutable). It is not resumable: if it stops half-way, restore
-- the database and run it again.
\set ON_ERROR_STOP on

-- tests/test_scale_out.py runs this script on plain PostgreSQL with stand-ins for the Citus functions.
\if :{?citus_stand_ins}
\else
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = format('citus is not installed in database %s',
            current_database()), HINT = 'CREATE EXTENSION citus and add the worker nodes first (README, Scale-out).';
    END IF;
END
$$;
\endif

SET citus.enable_unsafe_triggers = on;
-- A coordinator in the metadata would otherwise turn every table with a foreign key to a reference table into a
-- Citus local table first, which then cannot be distributed (identity columns).
SET citus.enable_local_reference_table_foreign_keys = off;
SELECT format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', current_database()) \gexec

UPDATE billing.document_series SET scope = 'per_customer' WHERE scope <> 'per_customer';

SELECT format('SELECT create_reference_table(%L)', c.oid::regclass)
FROM pg_class AS c
WHERE
    c.relnamespace = 'billing'::regnamespace AND c.relkind = 'r'
    AND NOT EXISTS (
        SELECT FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'customer_id' AND NOT a.attisdropped
    )
ORDER BY c.relname \gexec

WITH RECURSIVE owned AS (
    SELECT c.oid
    FROM pg_class AS c
    WHERE
        c.relnamespace = 'billing'::regnamespace AND c.relkind = 'r'
        AND EXISTS (
            SELECT FROM pg_attribute AS a
            WHERE a.attrelid = c.oid AND a.attname = 'customer_id' AND NOT a.attisdropped
        )
),

reference AS (
    SELECT DISTINCT
        f.conrelid AS child,
        f.confrelid AS parent
    FROM pg_constraint AS f
    WHERE
        f.contype = 'f' AND f.conrelid <> f.confrelid
        AND f.conrelid IN (SELECT owned.oid FROM owned) AND f.confrelid IN (SELECT owned.oid FROM owned)
),

depth AS (
    SELECT
        owned.oid,
        0 AS depth
    FROM owned
    UNION ALL
    SELECT
        r.child,
        d.depth + 1
    FROM depth AS d
    INNER JOIN reference AS r ON d.oid = r.parent
    WHERE d.depth < 100
)

SELECT format(
    'SELECT create_distributed_table(%L, %L, colocate_with => %L)', depth.oid::regclass, 'customer_id',
    CASE WHEN depth.oid = 'billing.customer'::regclass THEN 'default' ELSE 'billing.customer' END
)
FROM depth
GROUP BY depth.oid
ORDER BY max(depth.depth), depth.oid::regclass::text \gexec

SELECT CASE
    WHEN p.proargnames[1] = 'p_customer_id' THEN format(
        'SELECT create_distributed_function(%L, %L, colocate_with => %L)', p.oid::regprocedure, 'p_customer_id',
        'billing.customer'
    )
    ELSE format('SELECT create_distributed_function(%L)', p.oid::regprocedure)
END
FROM pg_proc AS p
WHERE p.pronamespace = 'billing'::regnamespace AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
ORDER BY p.oid::regprocedure::text \gexec
