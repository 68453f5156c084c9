"""The runner: migrate, rollback, status, the lock, and the errors a person sees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from helpers import snapshot as table_rows
from yoyo import read_migrations

from pgbilling import dump, migrate, paths
from pgbilling.db import with_dbname
from pgbilling.errors import UserError

ALL_IDS = [m.id for m in read_migrations(str(paths.MIGRATIONS))]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "pgbilling.cli", *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def snapshot(url: str) -> str:
    """The cleaned dump of schema billing, or "" when the schema does not exist."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regnamespace('billing')").fetchone()[0] is None:
            return ""
    return dump.dump(url)


def schema_and_rows(url: str) -> tuple[str, dict[str, list[str]]]:
    """The schema's cleaned dump and every row of its tables (a migration may only add reference rows)."""
    schema = snapshot(url)
    with psycopg.connect(url) as conn:
        return schema, (table_rows(conn) if schema else {})


def scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


def test_migrate_on_an_empty_database_applies_every_migration(empty_url: str) -> None:
    assert migrate.migrate(empty_url) == ALL_IDS
    assert {s.state for s in migrate.status(empty_url)} == {"applied"}
    assert scalar(empty_url, "SELECT to_regnamespace('billing') IS NOT NULL") is True


def test_second_migrate_applies_nothing_and_changes_nothing(db_url: str) -> None:
    before = snapshot(db_url)
    assert migrate.migrate(db_url) == []
    assert snapshot(db_url) == before


def test_each_migration_rollback_restores_the_schema_before_it(empty_url: str, tmp_path: Path) -> None:
    subset = tmp_path / "subset"  # grows by one migration per step; no functions/, they need the full schema
    subset.mkdir()
    for migration_id in ALL_IDS:
        for suffix in (".sql", ".rollback.sql"):
            shutil.copy(paths.MIGRATIONS / (migration_id + suffix), subset)
        before = schema_and_rows(empty_url)
        assert migrate.migrate(empty_url, migrations_dir=subset, functions_dir=tmp_path) == [migration_id]
        assert schema_and_rows(empty_url) != before, f"{migration_id} changed nothing in schema billing"
        assert migrate.rollback(empty_url, migrations_dir=subset) == [migration_id]
        assert schema_and_rows(empty_url) == before, f"rolling back {migration_id} left schema billing different"
        migrate.migrate(empty_url, migrations_dir=subset, functions_dir=tmp_path)


def test_rollback_of_everything_then_migrate_gives_the_same_schema(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:  # a fresh database, numbered as shipped (0014 refuses per_customer)
        conn.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
    before = snapshot(db_url)
    assert migrate.rollback(db_url, to="0000") == list(reversed(ALL_IDS))
    assert snapshot(db_url) == ""
    assert migrate.migrate(db_url) == ALL_IDS
    assert snapshot(db_url) == before


def test_rollback_to_an_unknown_migration_is_refused(db_url: str) -> None:
    with pytest.raises(UserError, match="no migration 9999"):
        migrate.rollback(db_url, to="9999")
    assert {s.state for s in migrate.status(db_url)} == {"applied"}


def test_status_lists_applied_and_pending_migrations(empty_url: str, tmp_path: Path) -> None:
    first = write_migrations(tmp_path / "first", {"0001_a.sql": "CREATE TABLE a (x int);"})
    both = write_migrations(tmp_path / "both", {"0001_a.sql": "CREATE TABLE a (x int);", "0002_b.sql": "CREATE TABLE b (x int);"})
    migrate.migrate(empty_url, migrations_dir=first, functions_dir=tmp_path)
    assert [(s.id, s.state) for s in migrate.status(empty_url, both)] == [("0001_a", "applied"), ("0002_b", "pending")]


def test_status_command_prints_every_migration_and_its_state(db_url: str) -> None:
    done = cli("--database", db_url, "status")
    assert done.returncode == 0, done.stderr
    for migration_id in ALL_IDS:
        line = next(line for line in done.stdout.splitlines() if migration_id in line)
        assert "applied" in line


def test_failing_migration_is_rolled_back_and_named(empty_url: str, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_good.sql": "CREATE TABLE good (x int);",
            "0002_bad.sql": "CREATE TABLE half_done (x int);\nSELECT 1 / 0;",
        },
    )
    with pytest.raises(UserError) as caught:
        migrate.migrate(empty_url, migrations_dir=folder, functions_dir=tmp_path)
    assert "0002_bad" in str(caught.value) and "rolled back" in str(caught.value) and "22012" in str(caught.value)
    assert scalar(empty_url, "SELECT to_regclass('public.good') IS NOT NULL") is True
    assert scalar(empty_url, "SELECT to_regclass('public.half_done') IS NULL") is True
    assert [(s.id, s.state) for s in migrate.status(empty_url, folder)] == [("0001_good", "applied"), ("0002_bad", "pending")]


def test_concurrent_migrates_apply_each_migration_once(empty_url: str, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_log.sql": "CREATE TABLE applied_log (id text);\nINSERT INTO applied_log VALUES ('0001');",
            "0002_slow.sql": "SELECT pg_sleep(0.5);\nINSERT INTO applied_log VALUES ('0002');",
        },
    )
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate.migrate(empty_url, migrations_dir=folder, functions_dir=tmp_path))
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [[], ["0001_log", "0002_slow"]]
    with psycopg.connect(empty_url) as conn:
        assert conn.execute("SELECT id FROM applied_log ORDER BY id").fetchall() == [("0001",), ("0002",)]


def test_applied_migration_missing_from_the_package_is_refused(empty_url: str, tmp_path: Path) -> None:
    both = write_migrations(tmp_path / "both", {"0001_a.sql": "CREATE TABLE a (x int);", "0002_b.sql": "CREATE TABLE b (x int);"})
    only_first = write_migrations(tmp_path / "first", {"0001_a.sql": "CREATE TABLE a (x int);", "0003_c.sql": "CREATE TABLE c (x int);"})
    migrate.migrate(empty_url, migrations_dir=both, functions_dir=tmp_path)
    with pytest.raises(UserError, match="0002_b"):
        migrate.migrate(empty_url, migrations_dir=only_first, functions_dir=tmp_path)
    assert scalar(empty_url, "SELECT to_regclass('public.c') IS NULL") is True
    assert ("0002_b", "missing") in [(s.id, s.state) for s in migrate.status(empty_url, only_first)]


def test_a_migration_inserted_before_applied_ones_is_refused(empty_url: str, tmp_path: Path) -> None:
    released = write_migrations(tmp_path / "released", {"0001_a.sql": "CREATE TABLE a (x int);", "0003_c.sql": "CREATE TABLE c (x int);"})
    edited = write_migrations(tmp_path / "edited", {"0001_a.sql": "CREATE TABLE a (x int);", "0002_b.sql": "CREATE TABLE b (x int);",
                                                    "0003_c.sql": "CREATE TABLE c (x int);"})
    migrate.migrate(empty_url, migrations_dir=released, functions_dir=tmp_path)
    with pytest.raises(UserError, match="0002_b is pending but later ones are applied \\(0003_c\\)"):
        migrate.migrate(empty_url, migrations_dir=edited, functions_dir=tmp_path)
    assert scalar(empty_url, "SELECT to_regclass('public.b') IS NULL") is True


def test_the_newest_migration_keeps_every_row_of_a_database_in_use(db_url: str) -> None:
    """Upgrading a database that holds data: every row before applying the newest migration is there after it,
    unchanged (compared on the columns that existed before); a migration may add rows (reference data), never
    change or lose one."""
    newest = ALL_IDS[-1]
    with psycopg.connect(db_url, autocommit=True) as conn:  # numbered as the release before could (0014 refuses else)
        conn.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
        conn.execute((paths.SEEDS / "demo.sql").read_text(encoding="utf-8"))
    migrate.rollback(db_url, to=ALL_IDS[-2][:4])

    def rows(conn: psycopg.Connection, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
        return {t: conn.execute(f"SELECT {', '.join(c)} FROM billing.{t} ORDER BY {', '.join(map(str, range(1, len(c) + 1)))}")
                .fetchall() for t, c in columns.items()}

    with psycopg.connect(db_url) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT c.relname, a.attname FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid"
            " WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind = 'r' AND a.attnum > 0"
            " AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
        ):
            columns.setdefault(table, []).append(column)
        before = rows(conn, columns)
    assert sum(map(len, before.values())) > 50, "the demo data did not load: the comparison would prove nothing"
    assert migrate.migrate(db_url) == [newest]
    with psycopg.connect(db_url) as conn:
        after = rows(conn, columns)
    assert {t: [r for r in before[t] if r not in after[t]] for t in before} == {t: [] for t in before}


def test_failing_function_file_rolls_back_every_function_file(empty_url: str, tmp_path: Path) -> None:
    functions = write_migrations(
        tmp_path / "f",
        {
            "10_ok.sql": "CREATE OR REPLACE FUNCTION public.f_ok() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
            "20_bad.sql": "CREATE OR REPLACE FUNCTION public.f_bad() RETURNS int LANGUAGE sql AS $$ SELECT x FROM nowhere $$;",
        },
    )
    with pytest.raises(UserError, match="20_bad.sql"):
        migrate.migrate(empty_url, migrations_dir=tmp_path / "none", functions_dir=functions)
    assert scalar(empty_url, "SELECT to_regproc('public.f_ok') IS NULL") is True


def test_unreachable_server_is_explained_without_traceback() -> None:
    done = cli("--database", "postgresql://nobody@/db?host=/nonexistent-pgbilling-dir", "status")
    assert done.returncode == 1
    assert "cannot reach PostgreSQL" in done.stderr and "Traceback" not in done.stderr


def test_missing_database_is_explained_without_traceback(db_url: str) -> None:
    done = cli("--database", with_dbname(db_url, "pgbilling_no_such_database"), "migrate")
    assert done.returncode == 1
    assert "missing database" in done.stderr and "Traceback" not in done.stderr


def test_wrong_password_is_explained_without_traceback(postgresql: psycopg.Connection) -> None:
    info = postgresql.info
    role = f"pgbilling_pw_{os.getpid()}"
    tcp = f"postgresql://{role}:{{}}@127.0.0.1:{info.port}/{info.dbname}"
    with psycopg.connect(info.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right'")
    try:
        try:  # the right password must reach this same server over TCP, or there is nothing to test
            psycopg.connect(tcp.format("right"), connect_timeout=3).close()
        except psycopg.OperationalError:
            pytest.skip("the test server takes no password logins over TCP (the embedded one listens on a socket only)")
        done = cli("--database", tcp.format("wrong"), "status")
        assert done.returncode == 1
        assert "wrong password" in done.stderr and "Traceback" not in done.stderr
    finally:
        with psycopg.connect(info.dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_migrate_status_rollback_and_demo_on_the_embedded_default(tmp_path: Path) -> None:
    env = {"PGBILLING_DATA_DIR": str(tmp_path / "home")}
    try:
        migrated = cli("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert "applied 0001_billing_schema" in migrated.stdout
        status = cli("status", env=env)
        assert "applied" in next(line for line in status.stdout.splitlines() if "0001_billing_schema" in line)
        assert cli("server", "status", env=env).stdout.startswith("not running")  # stopped after each command
        rolled = cli("rollback", env=env)
        assert rolled.returncode == 0 and f"rolled back {ALL_IDS[-1]}" in rolled.stdout
        started = cli("server", "start", env=env)
        assert started.returncode == 0 and "DATABASE_URL=postgresql://" in started.stdout
        demo = cli("demo", env=env)
        assert demo.returncode == 0, demo.stderr
        assert "loaded seed demo" in demo.stdout
        assert "billing.invoice_summary" in demo.stdout and "INV-000005" in demo.stdout and "CN-000002" in demo.stdout
        assert "billing.ar_aging" in demo.stdout and "Ada Lovelace" in demo.stdout  # her last invoice, not yet due
        assert cli("server", "status", env=env).stdout.startswith("running")  # demo left the started server up
    finally:
        cli("server", "stop", env=env)
    assert cli("server", "status", env=env).stdout.startswith("not running")
