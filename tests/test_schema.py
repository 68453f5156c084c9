"""The committed schema/ and docs/er-diagram.md, and the SQL sources: no drift, lint-clean, and plpgsql_check-clean."""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path

import psycopg
import pytest
import sqlfluff

from pgbilling import dump, paths, server

SQL_FILES = sorted(
    p for folder in (paths.MIGRATIONS, paths.FUNCTIONS, paths.SEEDS) for p in folder.glob("*.sql")
)


def test_committed_schema_matches_what_migrations_and_functions_produce(db_url: str) -> None:
    produced = dump.dump(db_url)
    committed = paths.SCHEMA_FILE.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(committed.splitlines(True), produced.splitlines(True), "committed", "produced"))
    assert produced == committed, f"schema/pgbilling.sql is stale: run `pgbilling dump-schema`\n{diff}"


def test_committed_er_diagram_matches_the_catalog_of_a_migrated_database(db_url: str) -> None:
    produced = dump.er_diagram(db_url)
    committed = paths.ER_DIAGRAM_FILE.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(committed.splitlines(True), produced.splitlines(True), "committed", "produced"))
    assert produced == committed, f"docs/er-diagram.md is stale: run `pgbilling dump-schema`\n{diff}"


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sql_file_passes_sqlfluff(path: Path) -> None:
    violations = sqlfluff.lint(path.read_text(encoding="utf-8"), config_path=str(paths.SQL_ROOT / ".sqlfluff"))
    assert violations == [], "\n".join(f"{v['start_line_no']}:{v['start_line_pos']} {v['code']} {v['description']}" for v in violations)


def test_plpgsql_functions_pass_plpgsql_check(postgresql: psycopg.Connection) -> None:
    """Run on servers that have the plpgsql_check extension (CI installs it for PostgreSQL 15);
    PGBILLING_REQUIRE_PLPGSQL_CHECK=1 turns its absence into a failure."""
    available = postgresql.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check'").fetchone()
    if not available:
        if os.environ.get("PGBILLING_REQUIRE_PLPGSQL_CHECK"):
            pytest.fail("plpgsql_check is required (PGBILLING_REQUIRE_PLPGSQL_CHECK) but not installed on the server")
        pytest.skip("plpgsql_check is not installed on this server")
    postgresql.execute("CREATE EXTENSION plpgsql_check")
    # Trigger functions are checked against each table that fires them; others on their own.
    rows = postgresql.execute(
        """
        WITH target AS (
            SELECT p.oid AS fn, t.tgrelid AS rel
            FROM pg_proc AS p
            JOIN pg_namespace AS n ON n.oid = p.pronamespace
            JOIN pg_language AS l ON l.oid = p.prolang
            LEFT JOIN pg_trigger AS t ON t.tgfoid = p.oid AND NOT t.tgisinternal
            WHERE n.nspname = 'billing' AND l.lanname = 'plpgsql'
              AND (p.prorettype <> 'trigger'::regtype OR t.tgrelid IS NOT NULL)
        )
        SELECT target.fn::regprocedure::text, target.rel::regclass::text, c.lineno, c.message, c.level
        FROM target
        CROSS JOIN LATERAL plpgsql_check_function_tb(target.fn, coalesce(target.rel, 0)) AS c
        WHERE c.level = 'error'
        """
    ).fetchall()
    assert rows == [], "\n".join(f"{fn} on {rel} line {line}: {msg}" for fn, rel, line, msg, _ in rows)


def test_every_table_view_and_function_has_a_comment(postgresql: psycopg.Connection) -> None:
    missing = postgresql.execute(
        """
        SELECT 'table or view ' || c.oid::regclass
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'billing' AND c.relkind IN ('r', 'v', 'm') AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = 'billing' AND obj_description(p.oid, 'pg_proc') IS NULL
        """
    ).fetchall()
    assert missing == [], "COMMENT ON missing for: " + ", ".join(m[0] for m in missing)


# Column names that need no comment: each means the same in every table and view of schema billing.
OBVIOUS_COLUMNS = {
    "name": "what people call the customer, product, fee, currency, tax authority or payment method",
    "email": "the customer's e-mail address",
    "description": "free text describing the row, printed or shown with it",
    "created_at": "when the row was inserted",
    "comments": "free-form notes for people; pgbilling never reads them",
    "currency": "the ISO code (billing.currency) the row's amounts are in",
    "line_no": "the number of a line within its order or document, from 1",
}
# Besides these, a column named like the identity key of a billing table (customer_id, order_id, invoice_id,
# payment_id, ...) needs none: it holds the key of a row of that table (read from the catalog, not listed here).


def test_every_column_has_a_comment_unless_its_name_is_obvious(postgresql: psycopg.Connection) -> None:
    missing = postgresql.execute(
        """
        SELECT format('%%s.%%I', c.oid::regclass, a.attname)
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'billing' AND c.relkind IN ('r', 'v', 'm') AND col_description(c.oid, a.attnum) IS NULL
          AND a.attname <> ALL(%(obvious)s)
          AND a.attname NOT IN (
              SELECT k.attname FROM pg_attribute AS k JOIN pg_class AS kc ON kc.oid = k.attrelid
              WHERE kc.relnamespace = n.oid AND k.attidentity <> ''
          )
        ORDER BY 1
        """,
        {"obvious": sorted(OBVIOUS_COLUMNS)},
    ).fetchall()
    assert missing == [], ("COMMENT ON COLUMN missing (functions/97_column_comments.sql) for: "
                           + ", ".join(m[0] for m in missing))
    present = {r[0] for r in postgresql.execute(
        """
        SELECT a.attname FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'billing' AND c.relkind IN ('r', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
        """
    ).fetchall()}
    stale = OBVIOUS_COLUMNS.keys() - present
    assert not stale, f"OBVIOUS_COLUMNS lists names that no column of schema billing has: {sorted(stale)}"


def test_readme_sql_examples_run_in_psql(db_url: str, tmp_path: Path) -> None:
    """Every ```sql block of README is run as written, in order, in psql, on a freshly migrated database."""
    readme = (paths.SQL_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [part.split("```\n", 1)[0] for part in readme.split("```sql\n")[1:]]
    assert len(blocks) >= 2, "README lost its SQL examples"
    script = tmp_path / "readme.sql"
    script.write_text("\n".join(blocks), encoding="utf-8")
    done = subprocess.run([str(server.bin_path("psql")), "-X", "-A", "-v", "ON_ERROR_STOP=1", "-f", str(script), db_url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "|invoice|297.50|5.95|87.75|203.80|partially_paid|t|f" in done.stdout  # the walkthrough's licence
    assert "EUR|30.00|60.00|-30.00" in done.stdout  # the strategies example's balance
    assert "EUR|30.00|0|30.00|60.00|-30.00" in done.stdout  # its aging: y not yet due
    assert "\n220.00|0\n" in done.stdout  # its aging as of before the payments
