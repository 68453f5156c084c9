-- pgbilling on Citus: makes a migrated pgbilling database distributed by customer. Run it on the Citus
-- coordinator, as a superuser, after `pgbilling migrate` and once the worker nodes are added (citus_add_node):
--     psql -X -v ON_ERROR_STOP=1 -f scale_out/distribute.sql "$DATABASE_URL"      (or: pgbilling distribute)
-- What it does, in this order (README, Scale-out):
-- 1. Allows triggers on distributed tables (citus.enable_unsafe_triggers), now and for later sessions of this
--    database, so pgbilling's triggers can be created and `pgbilling migrate` can re-create them.
-- 2. Keeps every number series per customer (document_series.scope): issuing then writes only the customer's rows.
-- 3. Lets billing_owner log in: Citus connects to the other nodes as the role that runs a statement.
-- 4. Turns the lookup tables (no customer_id) into reference tables, copied to every node, before the tables
--    that refer to them.
-- 5. Distributes every customer-owned table by customer_id, co-located with customer, each after the tables it
--    refers to, so every row of one customer lives on one node and every rule stays a single-node transaction.
-- 6. Lets billing_app and billing_reader read the shards (not the tables), which reading a view takes on Citus.
-- 7. Registers every function with Citus, so every node has it; one whose first argument is p_customer_id is
--    delegated, also inside a transaction block (force_delegation): a call runs on the node of that customer.
-- Each step is generated from the catalog and skips what is distributed already: `pgbilling migrate` runs it
-- again on a distributed database, so tables and functions that later migrations add are distributed too.
-- Run it first on a database before it holds data: Citus copies existing rows into the shards through pgbilling's
-- triggers, which refuse them (issued documents are immutable). If it stops half-way, run it again.
\set ON_ERROR_STOP on

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = format('citus is not installed in database %s',
            current_database()), HINT = 'CREATE EXTENSION citus and add the worker nodes first (README, Scale-out).';
    END IF;
END
$$;

SET citus.enable_unsafe_triggers = on;
-- A coordinator in the metadata would otherwise turn every table with a foreign key to a reference table into a
-- Citus local table first, which then cannot be distributed (identity columns).
SET citus.enable_local_reference_table_foreign_keys = off;
SELECT format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', current_database()) \gexec

UPDATE billing.document_series SET scope = 'per_customer' WHERE scope <> 'per_customer';

-- Citus opens its connections to the other nodes as the role that runs the statement: inside the API that is
-- billing_owner, which must therefore be able to log in (README, Scale-out: its credentials between nodes).
ALTER ROLE billing_owner LOGIN;

SELECT format('SELECT create_reference_table(%L)', c.oid::regclass)
FROM pg_class AS c
WHERE
    c.relnamespace = 'billing'::regnamespace AND c.relkind = 'r'
    AND NOT EXISTS (
        SELECT FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'customer_id' AND NOT a.attisdropped
    )
    AND NOT EXISTS (SELECT FROM pg_dist_partition AS d WHERE d.logicalrelid = c.oid)
ORDER BY c.relname \gexec

-- Rounding reads the node's own copy of billing.currency from now on (functions/10_common.sql says why).
\ir ../functions/10_common.sql

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
WHERE NOT EXISTS (SELECT FROM pg_dist_partition AS d WHERE d.logicalrelid = depth.oid)
GROUP BY depth.oid
ORDER BY max(depth.depth), depth.oid::regclass::text \gexec

-- The views run as their owner, but Citus runs their queries on the shards as the caller (it checks each shard
-- as the caller, not as the view's owner): the roles that read views may read the shards, not the tables. Again on
-- every run, so shards that Citus made since (a rebalance, a split) get it too; every copy of a reference table.
SELECT format(
    'SELECT run_command_on_placements(%L, %L)', d.logicalrelid::regclass,
    'GRANT SELECT ON %s TO billing_app, billing_reader'
)
FROM pg_dist_partition AS d
WHERE d.logicalrelid::regclass::text LIKE 'billing.%'
ORDER BY d.logicalrelid::regclass::text \gexec

-- A function whose customer may be left out (NULL: all customers, e.g. verify_chain) is delegated by it too, but
-- not forced: Citus would send a call with NULL to one node and hold every query there to NULL.
SELECT CASE
    WHEN p.proargnames[1] = 'p_customer_id' AND p.pronargdefaults < p.pronargs THEN format(
        'SELECT create_distributed_function(%L, %L, colocate_with => %L, force_delegation => true)',
        p.oid::regprocedure, 'p_customer_id', 'billing.customer'
    )
    WHEN p.proargnames[1] = 'p_customer_id' THEN format(
        'SELECT create_distributed_function(%L, %L, colocate_with => %L)', p.oid::regprocedure, 'p_customer_id',
        'billing.customer'
    )
    ELSE format('SELECT create_distributed_function(%L)', p.oid::regprocedure)
END
FROM pg_proc AS p
WHERE
    p.pronamespace = 'billing'::regnamespace AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
    AND NOT EXISTS (
        SELECT FROM pg_dist_object AS o
        WHERE
            o.classid = 'pg_proc'::regclass AND o.objid = p.oid
            AND (o.distribution_argument_index IS NOT NULL) = (p.proargnames[1] = 'p_customer_id')
    )
ORDER BY p.oid::regprocedure::text \gexec
