-- 0015_roles: the three roles a DBA grants to login roles (README, Security), and schema billing handed to
-- billing_owner. functions/99_privileges.sql, applied on every migrate, gives every object of the schema to
-- billing_owner and grants the API to billing_app and the reports to billing_reader.
-- Roles belong to the cluster, not to this database: a role that exists already (a second database of the same
-- cluster, a DBA who created it beforehand) is used as it is. A migrating user that is not a superuser needs
-- CREATEROLE to create them, and membership of billing_owner (granted here when it may grant it) to hand objects
-- over; when billing_owner exists already and it may not, a DBA runs GRANT billing_owner TO <migrating user>.
-- allocation.allocated_by defaults to session_user, the login: inside the API functions, which run as
-- billing_owner, current_user would say billing_owner.
-- Locks: ACCESS EXCLUSIVE on billing.allocation for an instant (a new default: no rewrite, no scan).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'billing_owner') THEN
        CREATE ROLE billing_owner NOLOGIN;
        COMMENT ON ROLE billing_owner IS 'pgbilling: owns every object of schema billing; the API functions run as it.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'billing_app') THEN
        CREATE ROLE billing_app NOLOGIN;
        COMMENT ON ROLE billing_app IS 'pgbilling: applications; may call the API functions and read the views.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'billing_reader') THEN
        CREATE ROLE billing_reader NOLOGIN;
        COMMENT ON ROLE billing_reader IS 'pgbilling: accountants; may read the views and run the reports.';
    END IF;
    -- USAGE: the role's privileges are the migrating user's own (on PostgreSQL 16 and later, creating a role
    -- only gives its ADMIN option, not its privileges, nor SET ROLE; this grant gives both).
    IF NOT pg_catalog.pg_has_role('billing_owner', 'USAGE') THEN
        GRANT billing_owner TO CURRENT_USER;
    END IF;
END
$$;

ALTER SCHEMA billing OWNER TO billing_owner;

ALTER TABLE billing.allocation ALTER COLUMN allocated_by SET DEFAULT session_user;
