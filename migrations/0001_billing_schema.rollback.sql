-- Rolling back the first migration uninstalls pgbilling: the schema and everything in it,
-- including the objects created by functions/, go.
DROP SCHEMA billing CASCADE;
