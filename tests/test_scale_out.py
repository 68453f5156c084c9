"""Ready to shard by customer on Citus: the catalog follows Citus' rules for distributed tables, number series can
be kept per customer, and distributing refuses a database without Citus. What distributing does on a real cluster,
tests/test_citus.py checks there (PGBILLING_TEST_CITUS=1)."""

from __future__ import annotations

import threading

import psycopg
import pytest
import sqlparse
from helpers import Api, refused, run_together, snapshot

from pgbilling import paths

# Customer-owned tables: those with a customer_id column; the others are lookup tables.
OWNED = """
SELECT c.oid FROM pg_class AS c
WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'p')
    AND EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'customer_id' AND NOT a.attisdropped)
"""
# Functions that need not take the customer first: they work across customers or on shared data.
NOT_PER_CUSTOMER = {
    "create_customer", "create_product",  # a new customer; a lookup row
    "open_items", "ar_aging", "tax_summary", "revenue_by_line_type",  # reports over all customers
    "verify_balances", "rebuild_balances",  # the DBA's checks and repairs over all customers
    "chain_time", "check_money", "check_period", "fail", "minor_units", "require", "round_money",  # helpers
    "session_customer", "session_all_customers", "set_row_security",  # row security: the session's own customer,
    # whether its login works across customers; the DBA's switch over all tables
}


def test_the_catalog_follows_the_rules_of_distributed_tables(postgresql: psycopg.Connection) -> None:
    broken = postgresql.execute(f"""
        WITH owned AS ({OWNED})
        SELECT 'unique without customer_id: ' || i.indexrelid::regclass
        FROM pg_index AS i
        WHERE i.indrelid IN (SELECT oid FROM owned) AND (i.indisunique OR i.indisexclusion) AND NOT EXISTS (
            SELECT FROM pg_attribute AS a
            WHERE a.attrelid = i.indrelid AND a.attname = 'customer_id' AND a.attnum = ANY (i.indkey)
        )
        UNION ALL
        SELECT 'identity or sequence not bigint: ' || a.attrelid::regclass || '.' || a.attname
        FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'billing'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
            AND (a.attidentity <> '' OR pg_get_serial_sequence(c.oid::regclass::text, a.attname) IS NOT NULL)
            AND a.atttypid <> 'bigint'::regtype
        UNION ALL
        SELECT 'sequence not bigint: ' || s.seqrelid::regclass FROM pg_sequence AS s JOIN pg_class AS c ON c.oid = s.seqrelid
        WHERE c.relnamespace = 'billing'::regnamespace AND s.seqtypid <> 'bigint'::regtype
        UNION ALL
        SELECT 'foreign key from a lookup table to a customer-owned one: ' || f.conname
        FROM pg_constraint AS f
        WHERE f.contype = 'f' AND f.connamespace = 'billing'::regnamespace
            AND f.conrelid NOT IN (SELECT oid FROM owned) AND f.confrelid IN (SELECT oid FROM owned)
        UNION ALL
        SELECT 'foreign key between customer-owned tables without customer_id on both sides: ' || f.conname
        FROM pg_constraint AS f
        WHERE f.contype = 'f' AND f.conrelid IN (SELECT oid FROM owned) AND f.confrelid IN (SELECT oid FROM owned)
            AND NOT EXISTS (
                SELECT FROM unnest(f.conkey, f.confkey) AS k (child, parent)
                JOIN pg_attribute AS ca ON ca.attrelid = f.conrelid AND ca.attnum = k.child
                JOIN pg_attribute AS pa ON pa.attrelid = f.confrelid AND pa.attnum = k.parent
                WHERE ca.attname = 'customer_id' AND pa.attname = 'customer_id'
            )
        UNION ALL
        SELECT 'SET NULL, SET DEFAULT or ON UPDATE CASCADE on a foreign key of a customer-owned table: ' || f.conname
        FROM pg_constraint AS f
        WHERE f.contype = 'f' AND f.conrelid IN (SELECT oid FROM owned)
            AND (f.confdeltype IN ('n', 'd') OR f.confupdtype IN ('n', 'd', 'c'))
        UNION ALL
        SELECT 'exclusion constraint not comparing customer_id with =: ' || x.conname
        FROM pg_constraint AS x
        WHERE x.contype = 'x' AND x.conrelid IN (SELECT oid FROM owned) AND NOT EXISTS (
            SELECT FROM unnest(x.conkey, x.conexclop) AS k (attnum, op)
            JOIN pg_attribute AS a ON a.attrelid = x.conrelid AND a.attnum = k.attnum
            JOIN pg_operator AS o ON o.oid = k.op
            WHERE a.attname = 'customer_id' AND o.oprname = '='
        )
        UNION ALL
        SELECT 'p_customer_id not bigint, like customer_id: ' || p.oid::regprocedure
        FROM pg_proc AS p
        WHERE p.pronamespace = 'billing'::regnamespace AND p.proargnames[1] = 'p_customer_id'
            AND p.proargtypes[0] <> 'bigint'::regtype
        UNION ALL
        SELECT 'function not taking p_customer_id first: ' || p.oid::regprocedure
        FROM pg_proc AS p
        WHERE p.pronamespace = 'billing'::regnamespace AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
            AND p.proargnames[1] IS DISTINCT FROM 'p_customer_id' AND p.proname <> ALL (%(exempt)s)
        ORDER BY 1
        """, {"exempt": sorted(NOT_PER_CUSTOMER)}).fetchall()
    assert broken == [], "\n".join(r[0] for r in broken)
    exempt_gone = NOT_PER_CUSTOMER - {r[0] for r in postgresql.execute(
        "SELECT proname FROM pg_proc WHERE pronamespace = 'billing'::regnamespace")}
    assert not exempt_gone, f"NOT_PER_CUSTOMER names functions that are gone: {exempt_gone}"


def per_customer(db: psycopg.Connection) -> None:
    db.execute("UPDATE billing.document_series SET scope = 'per_customer' WHERE scope <> 'per_customer'")


def issued(api: Api, c: int, kind_of_fee: str = "ADMIN") -> str:
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, kind_of_fee, 1)
    return api.issue_invoice(c, inv)


def test_per_customer_series_number_each_customers_documents_from_one(db, api, shop) -> None:
    c, other = shop["customer"], shop["other"]
    db.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
    assert issued(api, c) == "INV-000001"
    per_customer(db)  # a setting that may change at any time; numbers issued keep their form
    assert [issued(api, c), issued(api, other), issued(api, c)] == [f"INV-{c}-000001", f"INV-{other}-000001",
                                                                   f"INV-{c}-000002"]
    assert db.execute("SELECT customer_id, series, next_no FROM billing.customer_document_series"
                      " WHERE customer_id IN (%s, %s) ORDER BY 1, 2", [c, other]).fetchall() == [
        (c, "credit_note", 1), (c, "invoice", 3), (other, "credit_note", 1), (other, "invoice", 2)]
    refused(db, "PB002", "UPDATE billing.customer_document_series SET next_no = 10 WHERE customer_id = %s", [c])
    db.execute("INSERT INTO billing.document_series (series, prefix) VALUES ('receipt', 'RCP')")
    refused(db, "PB002", "INSERT INTO billing.customer_document_series VALUES (%s, 'receipt', 1)", [c])
    refused(db, "PB001", "DELETE FROM billing.customer_document_series WHERE customer_id = %s", [c])
    refused(db, "PB001", "TRUNCATE billing.customer_document_series")
    refused(db, "PB002", "UPDATE billing.document_series SET next_no = 10, scope = 'global'")
    refused(db, "23514", "UPDATE billing.document_series SET scope = 'per_shop'")


@pytest.mark.parametrize("document", ["invoice", "credit_note"])
def test_per_customer_issuers_of_different_customers_do_not_wait_for_each_other(db, db_url, api, shop, document) -> None:
    c, other = shop["customer"], shop["other"]
    per_customer(db)
    drafts = {}
    for customer in (c, other):
        drafts[customer] = api.create_invoice(customer, "EUR")
        api.add_fee_line(customer, drafts[customer], "ADMIN", 1)
        if document == "credit_note":
            api.issue_invoice(customer, drafts[customer])
    holding, done = threading.Event(), threading.Event()

    def issue(conn: psycopg.Connection, customer: int) -> str:
        if document == "invoice":
            return conn.execute("SELECT billing.issue_invoice(%s, %s)", [customer, drafts[customer]]).fetchone()[0]
        note = conn.execute("SELECT billing.issue_credit_note(%s, %s)", [customer, drafts[customer]]).fetchone()[0]
        return conn.execute("SELECT invoice_no FROM billing.invoice WHERE invoice_id = %s", [note]).fetchone()[0]

    def hold_c_series(conn: psycopg.Connection) -> object:
        with conn.transaction():
            number = issue(conn, c)
            holding.set()
            assert done.wait(30), "the other customer's issue waited for this one's series lock"
        return number

    def issue_other(conn: psycopg.Connection) -> object:
        assert holding.wait(30), "the first issuer failed"
        conn.execute("SET lock_timeout = '5s'")
        number = issue(conn, other)
        done.set()
        return number

    prefix = "INV" if document == "invoice" else "CN"
    assert run_together(db_url, [hold_c_series, issue_other]) == [f"{prefix}-{c}-000001", f"{prefix}-{other}-000001"]


def test_rolling_back_per_customer_numbering_is_refused(db, db_url, api, shop) -> None:
    from pgbilling import migrate
    from pgbilling.errors import UserError

    per_customer(db)
    issued(api, shop["customer"])
    with pytest.raises(UserError, match="55000"):
        migrate.rollback(db_url, to="0013")
    assert {s.id[:4]: s.state for s in migrate.status(db_url)}["0014"] == "applied"
    assert issued(api, shop["customer"]) == f"INV-{shop['customer']}-000002"  # counters and scope kept


def test_customer_id_of_a_row_never_changes(db, api, shop) -> None:
    """Citus cannot move a row to another shard: no row of any customer-owned table may change customer."""
    db.execute((paths.SEEDS / "demo.sql").read_text(encoding="utf-8"))
    c = shop["customer"]
    per_customer(db)  # a row in customer_document_series
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "ADMIN", 10)
    api.add_discount_line(c, inv, 1, "loyalty")
    api.issue_invoice(c, inv)
    api.write_off(c, inv, 2)
    api.cancel_payment(c, api.record_payment(c, "EUR", 5, "CASH"), "bounced")  # a row in payment_return
    nobody = api.create_customer("Nobody")
    unused = api.create_customer("Unused")  # owns nothing: only a rule, not a foreign key, can stop its change
    tables = [r[0] for r in db.execute(f"SELECT oid::regclass::text FROM ({OWNED}) AS o ORDER BY 1")]
    changes = [(t, "%(nobody)s", "customer_id NOT IN (%(nobody)s, %(unused)s)") for t in tables]
    changes += [("billing.customer", "DEFAULT", "customer_id = %(unused)s")]
    for table, new_value, which in changes:
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {which}", {"nobody": nobody, "unused": unused}).fetchone()[0], (
            f"the scenario leaves {table} empty: this test would prove nothing for it")
        before = snapshot(db)
        with pytest.raises(psycopg.Error):
            db.execute(f"UPDATE {table} SET customer_id = {new_value} WHERE ctid = (SELECT ctid FROM {table} WHERE {which} LIMIT 1)",
                       {"nobody": nobody, "unused": unused})
        assert snapshot(db) == before, f"{table}: a refused change of customer_id changed something"


def test_distribute_command_refuses_a_database_without_citus(db_url) -> None:
    from test_runner import cli

    done = cli("--database", db_url, "distribute")
    assert done.returncode == 1 and "55000" in done.stderr, done.stderr


# Migrations written after distributing became possible must apply to a distributed database too (README, For
# DBAs): Citus takes an ADD CONSTRAINT only as the one subcommand of its ALTER TABLE. (Those up to 0020 ran
# before any database could be distributed.)
LAST_BEFORE_CITUS = "0020"


def alter_table_subcommands(statement: str) -> int:
    """How many subcommands an ALTER TABLE statement has: its commas outside parentheses and quotes, plus one."""
    depth, commas, quoted = 0, 0, False
    for char in statement:
        if char == "'":
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
            commas += char == "," and depth == 0
    return commas + 1


def test_later_migrations_add_a_constraint_alone_in_its_alter_table() -> None:
    broken = []
    for path in sorted(paths.MIGRATIONS.glob("*.sql")):
        if path.name[:4] <= LAST_BEFORE_CITUS:
            continue
        for statement in sqlparse.split(path.read_text(encoding="utf-8")):
            code = sqlparse.format(statement, strip_comments=True).strip()
            if code.upper().startswith("ALTER TABLE") and "ADD CONSTRAINT" in code.upper() \
                    and alter_table_subcommands(code) > 1:
                broken.append(f"{path.name}: {code[:80]}")
    assert broken == []


def test_the_subcommand_count_sees_what_citus_refuses() -> None:
    """The control for the test above, on 0017, which Citus could not apply to a distributed database."""
    statements = sqlparse.split((paths.MIGRATIONS / "0017_text_limits.sql").read_text(encoding="utf-8"))
    counts = [alter_table_subcommands(sqlparse.format(s, strip_comments=True)) for s in statements
              if "ALTER TABLE" in s.upper()]
    assert counts[0] == 5 and alter_table_subcommands("ALTER TABLE t ADD CONSTRAINT c CHECK (f(a, b) > 0)") == 1
