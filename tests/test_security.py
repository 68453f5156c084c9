"""Roles and privileges: what billing_app and billing_reader may do, logged in as each; SECURITY DEFINER
functions with a pinned search_path and lock_timeout; nothing PUBLIC; migrating as a non-superuser."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from conftest import make_url
from helpers import D, Api, snapshot, wait_until_blocked
from scratch import scratch_server
from pgbilling import migrate

PASSWORD = "pgbilling-test"
API_ROLES = ("billing_app", "billing_reader")


def connect_as(info: psycopg.ConnectionInfo, user: str, dbname: str | None = None) -> psycopg.Connection:
    """Log in as user: over the test server's socket (the embedded server trusts it), else over TCP with the
    password (a Debian server authenticates its socket by operating-system user)."""
    dbname = dbname or info.dbname
    try:
        return psycopg.connect(host=info.host, port=info.port, dbname=dbname, user=user, password=PASSWORD,
                               autocommit=True)
    except psycopg.OperationalError:
        return psycopg.connect(host="127.0.0.1", port=info.port, dbname=dbname, user=user, password=PASSWORD,
                               autocommit=True, connect_timeout=5)


@pytest.fixture
def login(db: psycopg.Connection) -> Iterator[Callable[..., psycopg.Connection]]:
    """login(role, ...) -> a connection of a new login role that is a member of those roles (none: a stranger)."""
    made: list[tuple[str, psycopg.Connection]] = []

    def login_as(*roles: str, attributes: str = "") -> psycopg.Connection:
        name = f"pgb_login_{os.getpid()}_{len(made)}"
        db.execute(sql.SQL("CREATE ROLE {} LOGIN " + attributes + " PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(PASSWORD)))
        for role in roles:
            db.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(name)))
        conn = connect_as(db.info, name)
        made.append((name, conn))
        return conn

    yield login_as
    for name, conn in made:
        conn.close()
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def denied(conn: psycopg.Connection, statement: str, params: object = None) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement, params)


def tables(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c WHERE c.relnamespace = 'billing'::regnamespace"
        " AND c.relkind IN ('r', 'p') ORDER BY 1")]


def granted_functions(db: psycopg.Connection, role: str) -> set[str]:
    return {r[0] for r in db.execute(
        "SELECT p.proname FROM pg_proc AS p WHERE p.pronamespace = 'billing'::regnamespace"
        " AND has_function_privilege(%s, p.oid, 'EXECUTE')", [role])}


def test_the_three_roles_exist_and_cannot_log_in(db) -> None:
    roles = db.execute("SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
                       " WHERE rolname LIKE 'billing\\_%' ORDER BY 1").fetchall()
    assert roles == [(name, False, False, False, False, False) for name in ("billing_app", "billing_owner", "billing_reader")]


def test_billing_owner_owns_every_object_of_schema_billing(db) -> None:
    others = db.execute(
        """
        SELECT 'schema billing' FROM pg_namespace WHERE nspname = 'billing' AND nspowner <> 'billing_owner'::regrole
        UNION ALL SELECT oid::regclass::text FROM pg_class
        WHERE relnamespace = 'billing'::regnamespace AND relowner <> 'billing_owner'::regrole
        UNION ALL SELECT oid::regprocedure::text FROM pg_proc
        WHERE pronamespace = 'billing'::regnamespace AND proowner <> 'billing_owner'::regrole
        UNION ALL SELECT stxname FROM pg_statistic_ext
        WHERE stxnamespace = 'billing'::regnamespace AND stxowner <> 'billing_owner'::regrole
        UNION ALL SELECT typname FROM pg_type
        WHERE typnamespace = 'billing'::regnamespace AND typowner <> 'billing_owner'::regrole
        """).fetchall()
    assert others == []


def test_nothing_in_schema_billing_is_granted_to_public(db, login) -> None:
    public = db.execute(
        """
        SELECT 'schema' FROM pg_namespace AS n, aclexplode(n.nspacl) AS a WHERE n.nspname = 'billing' AND a.grantee = 0
        UNION ALL SELECT c.relname FROM pg_class AS c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) AS a
        WHERE c.relnamespace = 'billing'::regnamespace AND a.grantee = 0
        UNION ALL SELECT p.proname FROM pg_proc AS p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
        WHERE p.pronamespace = 'billing'::regnamespace AND a.grantee = 0
        """).fetchall()
    assert public == []
    stranger = login()  # a login role that was granted nothing
    denied(stranger, "SELECT billing.create_customer('Mallory')")
    denied(stranger, "SELECT * FROM billing.invoice_summary")
    denied(stranger, "SELECT * FROM billing.ar_aging()")


def test_every_function_a_client_may_call_runs_as_billing_owner_with_pinned_settings(db) -> None:
    callable_by_clients = granted_functions(db, "billing_app") | granted_functions(db, "billing_reader")
    settings = {name: (definer, config) for name, definer, config in db.execute(
        "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc AS p"
        " WHERE p.pronamespace = 'billing'::regnamespace AND p.proname = ANY (%s)", [sorted(callable_by_clients)])}
    pinned = (True, ["search_path=billing, pg_temp", "lock_timeout=5s"])
    # arithmetic, the reading of a session setting, and a lookup once per row of a view (no lock to wait for)
    assert {name for name, got in settings.items() if got != pinned} == {"round_money", "session_customer", "minor_units"}
    assert settings["minor_units"] == (True, ["search_path=billing, pg_temp"])
    definers_not_callable = db.execute(
        "SELECT p.proname FROM pg_proc AS p WHERE p.pronamespace = 'billing'::regnamespace AND p.prosecdef"
        " AND NOT has_function_privilege('billing_app', p.oid, 'EXECUTE')").fetchall()
    assert definers_not_callable == [("refund_complete",)]  # a deferred trigger's: see functions/99_privileges.sql


def test_billing_app_may_call_the_writing_api_and_the_reader_only_the_reports(db) -> None:
    readme_api = {"create_customer", "create_product", "place_order", "add_order_line", "add_order_charge",
                  "cancel_order", "bill_order", "create_invoice", "add_product_line", "add_fee_line",
                  "add_discount_line", "add_tax_line", "add_memo_line", "issue_invoice", "issue_new_invoice",
                  "issue_credit_note", "void_invoice", "dispute_invoice", "resolve_dispute", "record_payment", "cancel_payment",
                  "allocate_payment", "apply_credit_note", "auto_allocate", "pay_invoices", "unallocate", "refund",
                  "write_off"}
    reports = {"open_invoices", "open_items", "ar_aging", "customer_statement", "tax_summary",
               "revenue_by_line_type", "verify_chain", "chain_heads", "minor_units", "round_money", "session_customer"}
    assert granted_functions(db, "billing_app") == readme_api | reports
    assert granted_functions(db, "billing_reader") == reports


def test_billing_app_runs_the_whole_flow_through_the_api_and_reads_the_views(db, login) -> None:
    db.execute("SELECT billing.create_product('A-1', 'Widget')")
    app = Api(login("billing_app"))
    c = app.create_customer("Alice")
    order = app.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 10}])
    inv = app.bill_order(c, order)
    pay = app.record_payment(c, "EUR", D("25.00"), "CARD", "2026-11-01", None, "GW-1")
    assert app.conn.execute("SELECT * FROM billing.auto_allocate(%s, %s)", [c, pay]).fetchall() == [(inv, 20)]
    assert db.execute("SELECT allocated_by FROM billing.allocation WHERE customer_id = %s",
                      [c]).fetchall() == [(app.conn.info.user,)]  # the login, not billing_owner
    assert app.conn.execute("SELECT paid, open_amount FROM billing.invoice_summary WHERE invoice_id = %s",
                            [inv]).fetchone() == (20, 0)
    assert app.conn.execute("SELECT unapplied FROM billing.unapplied_cash WHERE customer_id = %s",
                            [c]).fetchone() == (5,)
    assert app.conn.execute("SELECT receivable, open_credit FROM billing.ar_aging() WHERE customer_id = %s",
                            [c]).fetchone() == (0, 5)
    app.refund(c, "EUR", 5, "CARD", "overpaid")  # its completeness is checked at commit, by a deferred trigger
    assert app.conn.execute("SELECT count(*) FROM billing.verify_chain()").fetchone() == (0,)


def test_billing_app_and_reader_cannot_touch_any_table(db, login, shop) -> None:
    for role in API_ROLES:
        allowed = db.execute(
            "SELECT c.relname, p.privilege FROM pg_class AS c,"
            " unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)"
            " WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'p', 'S')"
            " AND has_table_privilege(%s, c.oid, p.privilege)", [role]).fetchall()
        assert allowed == [], role
    app = login("billing_app")
    for table in tables(db):
        denied(app, f"SELECT * FROM {table}")
        denied(app, f"DELETE FROM {table}")
        denied(app, f"TRUNCATE {table}")
    denied(app, "INSERT INTO billing.payment (customer_id, currency, amount, method_id) VALUES (%s, 'EUR', 1, 1)",
           [shop["customer"]])
    denied(app, "UPDATE billing.invoice_balance SET credited = 0")


def test_billing_app_cannot_bypass_immutability(db, login, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "SHIPPING", 10, "courier")
    api.issue_invoice(c, inv)
    before = snapshot(db)
    app = login("billing_app")
    denied(app, "ALTER TABLE billing.invoice_line DISABLE TRIGGER USER")
    denied(app, "SET session_replication_role = replica")
    denied(app, "UPDATE billing.invoice_line SET amount = 1")
    # the internal functions the API is built of are not callable either
    denied(app, "SELECT billing.allocate(%s, NULL, NULL, %s, 1)", [c, inv])
    denied(app, "SELECT billing.lock_series(%s, 'INV')", [c])
    denied(app, "SELECT billing.add_line(%s, %s, 'fee', 1, NULL, 1, NULL)", [c, inv])
    with pytest.raises(psycopg.Error) as issued:  # through the API the triggers still refuse
        Api(app).add_fee_line(c, inv, "SHIPPING", 5, "again")
    assert issued.value.sqlstate == "55000"
    assert snapshot(db) == before


def test_billing_reader_reads_views_and_reports_and_nothing_else(db, login, api, shop) -> None:
    reader = login("billing_reader")
    views = [r[0] for r in db.execute("SELECT c.oid::regclass::text FROM pg_class AS c"
                                      " WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind = 'v'")]
    assert views
    for view in views:
        reader.execute(f"SELECT * FROM {view}").fetchall()
    for report in ("open_items()", "ar_aging()", "customer_statement(1, '2026-01-01', '2026-12-31')",
                   "tax_summary('2026-01-01', '2026-12-31')", "revenue_by_line_type('2026-01-01', '2026-12-31')"):
        reader.execute(f"SELECT * FROM billing.{report}").fetchall()
    denied(reader, "SELECT billing.create_customer('Mallory')")
    denied(reader, "SELECT billing.record_payment(%s, 'EUR', 1, 'CARD', now())", [shop["customer"]])
    denied(reader, "SELECT * FROM billing.invoice")


def test_objects_named_like_pgbilling_or_builtins_in_public_or_pg_temp_do_not_hijack_the_api(db, login, shop) -> None:
    db.execute("GRANT CREATE ON SCHEMA public TO billing_app")
    try:
        app = login("billing_app")
        app.execute("CREATE FUNCTION public.round(numeric, integer) RETURNS numeric LANGUAGE sql AS 'SELECT 999::numeric'")
        app.execute("CREATE FUNCTION public.numeric_gt(numeric, numeric) RETURNS boolean LANGUAGE sql AS 'SELECT false'")
        app.execute("CREATE OPERATOR public.> (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = public.numeric_gt)")
        app.execute("CREATE TABLE public.currency (code char(3), minor_units smallint)")
        app.execute("CREATE TEMPORARY TABLE payment_method (method_id bigint, code text)")
        app.execute("SET search_path = public, pg_temp, pg_catalog, billing")
        # the session really resolves to the impostors...
        assert app.execute("SELECT round(1.5, 2), 2::numeric > 1::numeric").fetchone() == (999, False)
        # ...but the API does not: money is rounded and compared by pg_catalog, tables are billing's
        pay = Api(app).record_payment(shop["customer"], "EUR", D("12.34"), "CARD", "2026-11-01")
        assert db.execute("SELECT amount FROM billing.payment WHERE payment_id = %s", [pay]).fetchone() == (D("12.34"),)
        with pytest.raises(psycopg.Error) as caught:
            Api(app).record_payment(shop["customer"], "EUR", D("1.234"), "CARD", "2026-11-01")
        assert caught.value.sqlstate == "23514"
    finally:
        db.execute("REVOKE CREATE ON SCHEMA public FROM billing_app")


def test_definer_functions_cannot_reach_other_schemas(db, login, shop) -> None:
    db.execute("CREATE SCHEMA secret")
    db.execute("CREATE TABLE secret.card (number text)")
    db.execute("INSERT INTO secret.card VALUES ('4111 1111 1111 1111')")
    outside = db.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('billing', 'pg_catalog', 'information_schema') AND c.relkind IN ('r', 'v', 'm')"
        " AND has_table_privilege('billing_owner', c.oid, 'SELECT')").fetchall()
    assert outside == []  # billing_owner, the role every definer function runs as, reads nothing outside billing
    assert db.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'billing_owner'").fetchone() == (False,)
    dynamic = db.execute("SELECT p.proname FROM pg_proc AS p WHERE p.pronamespace = 'billing'::regnamespace"
                         " AND p.prosrc ~* '\\mEXECUTE\\M' ORDER BY 1").fetchall()
    assert dynamic == [("set_row_security",)]  # no function builds SQL from arguments (that one: from the catalog)
    app = login("billing_app")
    fragment = "x'); SELECT number FROM secret.card; --"
    customer = Api(app).create_customer(fragment)
    assert db.execute("SELECT name FROM billing.customer WHERE customer_id = %s", [customer]).fetchone() == (fragment,)
    denied(app, "SELECT * FROM secret.card")


def test_a_call_waiting_on_a_locked_row_fails_after_the_lock_timeout(db, db_url, api, shop) -> None:
    c = shop["customer"]
    pay = api.record_payment(c, "EUR", 10, "CARD", "2026-11-01")
    with psycopg.connect(db_url) as holder, psycopg.connect(db_url, autocommit=True) as caller:
        holder.execute("SELECT FROM billing.payment_balance WHERE customer_id = %s AND payment_id = %s FOR UPDATE",
                       [c, pay])
        caller.execute("SET lock_timeout = 0")  # the caller's own setting (wait forever) does not apply inside
        failed: list[psycopg.Error] = []

        def cancel() -> None:
            try:
                caller.execute("SELECT billing.cancel_payment(%s, %s, 'duplicate')", [c, pay])
            except psycopg.Error as exc:
                failed.append(exc)

        thread = threading.Thread(target=cancel)
        thread.start()
        wait_until_blocked(holder)
        thread.join(timeout=60)
        assert not thread.is_alive(), "cancel_payment waited past its lock_timeout"
        holder.rollback()
    assert [e.sqlstate for e in failed] == ["55P03"]
    assert db.execute("SELECT count(*) FROM billing.payment_cancellation").fetchone() == (0,)


def test_a_createrole_user_creates_the_roles_on_a_new_cluster_and_migrates_two_databases() -> None:
    """A managed server: the deployer is no superuser, only CREATEROLE and the owner of its databases. (A scratch
    server of the embedded binaries: the roles must not exist yet, and they are cluster-wide.)"""
    with scratch_server(migrated=False) as scratch:
        with psycopg.connect(scratch.url, autocommit=True) as admin:
            assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'billing%'").fetchone() == (0,)
            admin.execute("CREATE ROLE deployer LOGIN CREATEROLE")
            for dbname in ("shop_a", "shop_b"):
                admin.execute(f"CREATE DATABASE {dbname} OWNER deployer")
        info = psycopg.conninfo.conninfo_to_dict(scratch.url)
        for dbname in ("shop_a", "shop_b"):  # the second finds the roles made for the first
            url = make_url(info["host"], info["port"], "deployer", dbname)
            assert migrate.migrate(url)
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
                assert conn.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
                                    " WHERE relnamespace = 'billing'::regnamespace").fetchall() == [("billing_owner",)]
                assert conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'billing%'"
                                    " ORDER BY 1").fetchall() == [
                    ("billing_app", False), ("billing_owner", False), ("billing_reader", False)]


def test_a_createrole_user_that_was_granted_billing_owner_migrates_a_second_database(db, login) -> None:
    """Roles exist already (this cluster's first database has them); a non-superuser migrates another database."""
    migrator = login("billing_owner", attributes="CREATEROLE")
    name = migrator.info.user
    dbname = f"pgbilling_second_{os.getpid()}"
    db.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(name)))
    try:
        url = make_url(migrator.info.host, migrator.info.port, name, dbname, PASSWORD)  # the way login got in
        assert migrate.migrate(url)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
            owners = conn.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
                                  " WHERE relnamespace = 'billing'::regnamespace").fetchall()
            assert owners == [("billing_owner",)]
    finally:
        db.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))


def customer_tables(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c WHERE c.relnamespace = 'billing'::regnamespace"
        " AND c.relkind = 'r' AND EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = c.oid"
        " AND a.attname = 'customer_id') ORDER BY 1")]


def test_row_security_is_off_by_default_and_a_named_customer_then_filters_nothing(db, login, api, shop) -> None:
    assert db.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'billing'::regnamespace"
                      " AND (relrowsecurity OR relforcerowsecurity)").fetchone() == (0,)
    app = login("billing_app")
    app.execute("SET pgbilling.customer_id = %s" % shop["other"])
    Api(app).record_payment(shop["customer"], "EUR", 5, "CARD", "2026-11-01")
    assert app.execute("SELECT count(*) FROM billing.payment_summary").fetchone() == (1,)


def test_row_security_confines_a_session_to_the_customer_it_names(db, login, api, shop) -> None:
    alice, bob = shop["customer"], shop["other"]
    for c in (alice, bob):
        api.record_payment(c, "EUR", 10, "CARD", "2026-11-01")
        inv = api.create_invoice(c, "EUR")
        api.add_fee_line(c, inv, "SHIPPING", 4, "courier")
        api.issue_invoice(c, inv)
    bobs_invoice = db.execute("SELECT invoice_id FROM billing.invoice WHERE customer_id = %s", [bob]).fetchone()[0]
    db.execute("SELECT billing.set_row_security(true)")
    assert db.execute("SELECT count(*) FROM pg_class WHERE oid::regclass::text = ANY (%s)"
                      " AND relrowsecurity AND relforcerowsecurity", [customer_tables(db)]).fetchone() == (
                          len(customer_tables(db)),)
    app, reader = login("billing_app"), login("billing_reader")
    app.execute("SET pgbilling.customer_id = %s" % alice)
    assert app.execute("SELECT DISTINCT customer_id FROM billing.invoice_summary").fetchall() == [(alice,)]
    assert app.execute("SELECT DISTINCT customer_id FROM billing.ar_aging()").fetchall() == [(alice,)]
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as other_invoice:  # Bob's invoice is not there for Alice's session
        Api(app).void_invoice(bob, bobs_invoice, "not mine")
    assert other_invoice.value.sqlstate == "23503"
    for call in (lambda: Api(app).dispute_invoice(bob, bobs_invoice, "not mine"),  # nor may it write Bob's rows
                 lambda: Api(app).record_payment(bob, "EUR", 5, "CARD", "2026-11-01")):
        with pytest.raises(psycopg.Error) as other_row:
            call()
        assert other_row.value.sqlstate == "42501"
    assert snapshot(db) == before
    pay = Api(app).record_payment(alice, "EUR", 5, "CARD", "2026-11-01")  # its own customer, as usual
    assert [r[0] for r in app.execute("SELECT invoice_id FROM billing.auto_allocate(%s, %s)", [alice, pay])]
    # a session that names no customer (an accountant's) sees every customer
    assert reader.execute("SELECT count(DISTINCT customer_id) FROM billing.invoice_summary").fetchone() == (2,)
    db.execute("SELECT billing.set_row_security(false)")
    assert app.execute("SELECT count(DISTINCT customer_id) FROM billing.invoice_summary").fetchone() == (2,)
