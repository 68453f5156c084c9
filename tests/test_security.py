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
ROLES = ("billing_all_customers", "billing_app", "billing_owner", "billing_reader")  # 0015 and 0018


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


def test_the_four_roles_exist_and_cannot_log_in(db) -> None:
    roles = db.execute("SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
                       " WHERE rolname LIKE 'billing\\_%' ORDER BY 1").fetchall()
    assert roles == [(name, False, False, False, False, False) for name in ROLES]


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
    # arithmetic, the reading of a session setting, a lookup once per row of a view (no lock to wait for), and the
    # row security policies' judge of the login, which must see the caller's current_user (so runs as the caller)
    assert {name for name, got in settings.items() if got != pinned} == {
        "round_money", "session_customer", "minor_units", "session_all_customers"}
    assert settings["minor_units"] == (True, ["search_path=billing, pg_temp"])
    assert settings["session_all_customers"] == (False, ["search_path=pg_catalog, pg_temp"])
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
               "revenue_by_line_type", "verify_chain", "chain_heads", "verify_balances", "minor_units", "round_money",
               "session_customer", "session_all_customers"}
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
                                    " ORDER BY 1").fetchall() == [(role, False) for role in ROLES]


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


# Row level security fails closed (README, Security): with it on, a session that names no customer sees no
# customer's rows and the API refuses its calls (42501), unless its login works across customers.
# The policy every customer-owned table has, as the catalog prints it (functions/98_row_security.sql).
CLOSED_POLICY = "((customer_id = billing.session_customer()) OR billing.session_all_customers())"
OPEN_POLICY = "(customer_id = COALESCE(billing.session_customer(), customer_id))"  # before 0018: fail-open
REPORTS = ("open_items()", "ar_aging()", "customer_statement(%(c)s, '2000-01-01', '2100-01-01')",
           "tax_summary('2000-01-01', '2100-01-01')", "revenue_by_line_type('2000-01-01', '2100-01-01')",
           "verify_chain()", "chain_heads()", "verify_balances()", "open_invoices(%(c)s, 'EUR')")


def name_customer(conn: psycopg.Connection, customer: int | str, local: bool = False) -> None:
    conn.execute("SELECT set_config('pgbilling.customer_id', %s, %s)", [str(customer), local])


def app_views(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c WHERE c.relnamespace = 'billing'::regnamespace"
        " AND c.relkind = 'v' AND has_table_privilege('billing_app', c.oid, 'SELECT') ORDER BY 1")]


def customers_seen(conn: psycopg.Connection, relation: str) -> set[int]:
    """The customers whose rows relation shows (chains over all customers have none)."""
    return {r[0] for r in conn.execute(f"SELECT DISTINCT customer_id FROM {relation} WHERE customer_id IS NOT NULL")}


def refused_42501(db: psycopg.Connection, call: Callable[[], object]) -> None:
    """call must fail with 42501 and leave every billing table as it was (read by db, a superuser: no policy)."""
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as caught:
        call()
    assert caught.value.sqlstate == "42501", f"expected 42501, got {caught.value.sqlstate}: {caught.value}"
    assert snapshot(db) == before, "a refused call changed the database"


@pytest.fixture
def history(db, api, shop) -> dict[str, dict[str, int]]:
    """Alice and Bob each with an order billed and one open, a draft, issued and disputed invoices, a credit note,
    a payment and an allocation; then row security on."""
    made: dict[str, dict[str, int]] = {}
    for who in ("customer", "other"):
        c = shop[who]
        h = {"c": c, "billed_order": api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 10}]),
             "open_order": api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 10}])}
        h["invoice"] = api.bill_order(c, h["billed_order"])  # 20.00
        h["draft"] = api.create_invoice(c, "EUR")
        api.add_fee_line(c, h["draft"], "SHIPPING", 5, "courier")
        for name in ("credited", "disputed"):
            h[name] = api.create_invoice(c, "EUR")
            api.add_fee_line(c, h[name], "ADMIN", 4)
            api.issue_invoice(c, h[name])
        api.dispute_invoice(c, h["disputed"], "never ordered")
        h["credit_note"] = api.issue_credit_note(c, h["credited"])  # it settles its invoice: no credit left
        h["payment"] = api.record_payment(c, "EUR", 100, "CARD", "2026-11-01")
        h["allocation"] = api.allocate_payment(c, h["payment"], h["invoice"], 5)
        made[who] = h
    db.execute("SELECT billing.set_row_security(true)")
    return made


def writing_calls(h: dict[str, int]) -> dict[str, tuple]:
    """One call of each writing API function that succeeds for h's customer when the session names it (or, for
    create_customer, when it works across customers); apply_credit_note reaches its own rules instead (a credit
    note holds no credit since it settles its invoice: tests/test_payments.py)."""
    c = h["c"]
    return {
        "create_customer": ("Carol",),
        "place_order": (c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 3}]),
        "add_order_line": (c, h["open_order"], "A-1", 1, 10),
        "add_order_charge": (c, h["open_order"], "SHIPPING", 5),
        "cancel_order": (c, h["open_order"], "changed my mind"),
        "bill_order": (c, h["open_order"]),
        "create_invoice": (c, "EUR"),
        "add_product_line": (c, h["draft"], h["open_order"], 1, 1),
        "add_fee_line": (c, h["draft"], "HANDLING", 1),
        "add_discount_line": (c, h["draft"], 1, "loyal customer"),
        "add_tax_line": (c, h["draft"], "DE_VAT", D("0.19")),
        "add_memo_line": (c, h["draft"], "thank you"),
        "issue_invoice": (c, h["draft"]),
        "issue_new_invoice": (c, "EUR", [{"type": "fee", "fee_code": "LICENCE", "amount": 250}]),
        "issue_credit_note": (c, h["invoice"]),
        "void_invoice": (c, h["invoice"], "wrong address"),
        "dispute_invoice": (c, h["invoice"], "too dear"),
        "resolve_dispute": (c, h["disputed"], "explained"),
        "record_payment": (c, "EUR", 5, "CARD", "2026-11-02"),
        "cancel_payment": (c, h["payment"], "bounced"),
        "allocate_payment": (c, h["payment"], h["invoice"], 1),
        "apply_credit_note": (c, h["credit_note"], h["invoice"], 1),
        "auto_allocate": (c, h["payment"]),
        "pay_invoices": (c, "EUR", 15, "CARD", f"{{{h['invoice']}}}"),  # an array literal (a list would go as JSON)
        "unallocate": (c, h["allocation"], "wrong invoice"),
        "refund": (c, "EUR", 5, "CARD", "overpaid", h["payment"]),
        "write_off": (c, h["invoice"], 1, "small rest"),
    }


def test_every_writing_function_is_tried_on_row_security(db) -> None:
    writing = granted_functions(db, "billing_app") - granted_functions(db, "billing_reader") - {"create_product"}
    assert set(writing_calls({k: 0 for k in ("c", "open_order", "draft", "invoice", "disputed", "payment",
                                             "credit_note", "allocation")})) == writing


def test_row_security_refuses_every_api_write_of_a_session_that_names_no_customer(db, login, history) -> None:
    alice = history["customer"]
    app, job = login("billing_app"), login("billing_app", "billing_all_customers")
    for name, args in writing_calls(alice).items():
        refused_42501(db, lambda: getattr(Api(app), name)(*args))
        # the same call succeeds for a session that names the customer (rolled back), so the refusal above is for
        # naming none; a new customer is no customer's row yet: that takes a login that works across customers
        with app.transaction(force_rollback=True), job.transaction(force_rollback=True):
            name_customer(app, alice["c"], local=True)
            if name == "apply_credit_note":
                with pytest.raises(psycopg.Error) as rule, app.transaction():
                    Api(app).apply_credit_note(*args)
                assert rule.value.sqlstate in ("23514", "55000")  # past row security, at the credit rules
            else:
                getattr(Api(job if name == "create_customer" else app), name)(*args)
    # products are shared reference data, no customer's rows: not filtered
    Api(app).create_product("Z-9", "Spare part")


def test_row_security_shows_a_session_that_names_no_customer_no_rows_and_refuses_its_reports(db, login, history) -> None:
    app, reader = login("billing_app"), login("billing_reader")
    alice = history["customer"]["c"]
    views = app_views(db)
    assert len(views) >= 7
    for view in views:
        assert app.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view
        assert len(customers_seen(reader, view)) == 2, view  # the rows are there, for a login that may see them
    for report in REPORTS:  # the reports are API functions: refused like the writing ones
        refused_42501(db, lambda: app.execute(f"SELECT * FROM billing.{report}", {"c": alice}).fetchall())
        reader.execute(f"SELECT * FROM billing.{report}", {"c": alice}).fetchall()
    name_customer(app, alice)
    for view in views:
        assert customers_seen(app, view) == {alice}, view
    assert {r[0] for r in app.execute("SELECT customer_id FROM billing.ar_aging()")} == {alice}


@pytest.mark.parametrize("forget", ["DISCARD ALL", "RESET ALL", "RESET pgbilling.customer_id",
                                    "SET pgbilling.customer_id = ''", "SET LOCAL", "set_config local"])
def test_row_security_closes_again_when_a_pooled_session_forgets_its_customer(db, login, history, forget) -> None:
    alice = history["customer"]["c"]
    app = login("billing_app")
    if forget in ("SET LOCAL", "set_config local"):  # named for one transaction: forgotten at its end
        with app.transaction():
            if forget == "SET LOCAL":
                app.execute(sql.SQL("SET LOCAL pgbilling.customer_id = {}").format(sql.Literal(str(alice))))
            else:
                name_customer(app, alice, local=True)
            Api(app).record_payment(alice, "EUR", 1, "CARD", "2026-11-03")
            assert customers_seen(app, "billing.payment_summary") == {alice}
    else:
        app.execute(sql.SQL("SET pgbilling.customer_id = {}").format(sql.Literal(str(alice))))
        Api(app).record_payment(alice, "EUR", 1, "CARD", "2026-11-03")
        assert customers_seen(app, "billing.payment_summary") == {alice}
        app.execute(forget)
    assert app.execute("SELECT billing.session_customer()").fetchone() == (None,)
    assert app.execute("SELECT count(*) FROM billing.payment_summary").fetchone() == (0,)
    refused_42501(db, lambda: Api(app).record_payment(alice, "EUR", 1, "CARD", "2026-11-03"))
    refused_42501(db, lambda: Api(app).cancel_payment(alice, history["customer"]["payment"], "bounced"))


def test_row_security_lets_billing_reader_read_every_customer_unless_it_names_one(db, login, history) -> None:
    reader = login("billing_reader")
    alice, bob = history["customer"]["c"], history["other"]["c"]
    for relation in [*app_views(db), "billing.ar_aging()", "billing.open_items()", "billing.chain_heads()"]:
        assert customers_seen(reader, relation) == {alice, bob}, relation
    name_customer(reader, bob)
    for relation in [*app_views(db), "billing.ar_aging()", "billing.open_items()", "billing.chain_heads()"]:
        assert customers_seen(reader, relation) == {bob}, relation


def test_row_security_lets_a_login_granted_billing_all_customers_work_across_customers(db, login, history) -> None:
    alice, bob = history["customer"], history["other"]
    job = login("billing_app", "billing_all_customers")
    assert customers_seen(job, "billing.invoice_summary") == {alice["c"], bob["c"]}
    assert customers_seen(job, "billing.ar_aging()") == {alice["c"], bob["c"]}
    for h in (alice, bob):  # writes for each customer without naming one
        pay = Api(job).record_payment(h["c"], "EUR", 7, "CARD", "2026-11-04")
        Api(job).allocate_payment(h["c"], pay, h["invoice"], 7)
    assert db.execute("SELECT count(*) FROM billing.allocation WHERE amount = 7").fetchone() == (2,)
    assert job.execute("SELECT count(*) FROM billing.verify_chain()").fetchone() == (0,)
    # a job that names a customer is confined to it like any session
    name_customer(job, alice["c"])
    assert customers_seen(job, "billing.invoice_summary") == {alice["c"]}
    refused_42501(db, lambda: Api(job).record_payment(bob["c"], "EUR", 7, "CARD", "2026-11-04"))
    # the role grants nothing by itself: it widens what billing_app's rights reach
    alone = login("billing_all_customers")
    denied(alone, "SELECT billing.record_payment(%s, 'EUR', 1, 'CARD', now())", [alice["c"]])
    denied(alone, "SELECT * FROM billing.invoice_summary")


def test_row_security_cannot_be_escaped_by_set_role_set_config_or_a_second_role(db, login, history) -> None:
    alice = history["customer"]["c"]
    reader = login("billing_reader")
    app = login("billing_app")
    for role in ("billing_reader", "billing_all_customers", "billing_owner"):
        denied(app, sql.SQL("SET ROLE {}").format(sql.Identifier(role)).as_string(app))
    denied(app, sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(reader.info.user)).as_string(app))
    app.execute("SET ROLE billing_app")  # a role it has: current_user changes, the login does not
    assert app.execute("SELECT count(*) FROM billing.invoice_summary").fetchone() == (0,)
    refused_42501(db, lambda: Api(app).record_payment(alice, "EUR", 1, "CARD", "2026-11-05"))
    app.execute("RESET ROLE")
    name_customer(app, alice)
    app.execute("SELECT set_config('pgbilling.customer_id', '', false)")
    refused_42501(db, lambda: Api(app).record_payment(alice, "EUR", 1, "CARD", "2026-11-05"))
    with pytest.raises(psycopg.Error) as junk:  # not a customer id: refused too
        app.execute("SET pgbilling.customer_id = '1 OR true'")
        app.execute("SELECT count(*) FROM billing.invoice_summary").fetchone()
    assert junk.value.sqlstate == "22P02"
    # an application that is also an accountant is an application: it names its customer
    both = login("billing_app", "billing_reader")
    assert both.execute("SELECT count(*) FROM billing.invoice_summary").fetchone() == (0,)
    refused_42501(db, lambda: Api(both).record_payment(alice, "EUR", 1, "CARD", "2026-11-05"))


def test_row_security_judge_is_not_hijacked_by_functions_a_caller_creates(db, login, history) -> None:
    alice = history["customer"]["c"]
    db.execute("GRANT CREATE ON SCHEMA public TO billing_app")
    try:
        app = login("billing_app")
        app.execute("CREATE FUNCTION public.pg_has_role(name, text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
        app.execute("SET search_path = public, pg_temp, pg_catalog, billing")
        assert app.execute("SELECT pg_has_role('nobody', 'billing_owner', 'MEMBER')").fetchone() == (True,)
        assert app.execute("SELECT count(*) FROM billing.invoice_summary").fetchone() == (0,)
        refused_42501(db, lambda: Api(app).record_payment(alice, "EUR", 1, "CARD", "2026-11-05"))
    finally:
        db.execute("REVOKE CREATE ON SCHEMA public FROM billing_app")


def test_row_security_lets_superusers_and_billing_owner_members_see_every_customer(db, db_url, login, history) -> None:
    alice, bob = history["customer"]["c"], history["other"]["c"]
    dba = login("billing_owner")  # a DBA who is no superuser, as the migrating user on a managed server
    assert customers_seen(dba, "billing.payment") == {alice, bob}  # the policy binds it (FORCE) and lets it through
    name_customer(dba, alice)
    assert customers_seen(dba, "billing.payment") == {alice}
    assert customers_seen(db, "billing.payment") == {alice, bob}  # a superuser's own reads bypass row security
    Api(db).record_payment(bob, "EUR", 1, "CARD", "2026-11-06")  # and the API lets it work across customers
    # the decision is on the login: a superuser session that becomes an application's login is bound as that login
    app = login("billing_app")
    with psycopg.connect(db_url, autocommit=True) as su:
        su.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(app.info.user)))
        assert su.execute("SELECT count(*) FROM billing.payment_summary").fetchone() == (0,)
        refused_42501(db, lambda: Api(su).record_payment(bob, "EUR", 1, "CARD", "2026-11-06"))


def policies(db: psycopg.Connection) -> dict[str, str]:
    return dict(db.execute(
        "SELECT p.polrelid::regclass::text, pg_get_expr(p.polqual, p.polrelid) FROM pg_policy AS p"
        " WHERE p.polname = 'customer_isolation' AND p.polwithcheck IS NULL"))


def test_migration_0018_closes_the_policies_of_a_database_in_use_and_its_rollback_opens_them(db, db_url, login,
                                                                                            shop) -> None:
    assert policies(db) == {table: CLOSED_POLICY for table in customer_tables(db)}
    for c in (shop["customer"], shop["other"]):
        Api(db).record_payment(c, "EUR", 10, "CARD", "2026-11-01")
    assert "0018_row_security_fail_closed" in migrate.rollback(db_url, to="0017")
    assert policies(db) == {table: OPEN_POLICY for table in customer_tables(db)}
    db.execute("SELECT billing.set_row_security(true)")
    app = login("billing_app")
    assert app.execute("SELECT count(*) FROM billing.payment_summary").fetchone() == (2,)  # fail-open, as before
    assert "0018_row_security_fail_closed" in migrate.migrate(db_url)
    assert policies(db) == {table: CLOSED_POLICY for table in customer_tables(db)}
    assert app.execute("SELECT count(*) FROM billing.payment_summary").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM billing.payment").fetchone() == (2,)
