"""Migrations through yoyo-migrations' API, then the repeatable functions/, under yoyo's lock."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import sqlparse
from psycopg import sql
from rich.console import Console
from rich.progress import Progress
from yoyo import get_backend, read_migrations
from yoyo.backends.base import DatabaseBackend
from yoyo.exceptions import LockTimeout
from yoyo.migrations import Migration

from pgbilling import paths, server
from pgbilling.db import connect
from pgbilling.errors import UserError

LOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class MigrationState:
    id: str
    state: str  # "applied", "pending", or "missing" (applied, but not in this package)
    applied_at: datetime | None


@dataclass(frozen=True)
class Loss:
    """Rows a rollback would drop: a table's rows (column None), or a column's non-null values."""

    migration: str
    table: str  # schema-qualified
    column: str | None
    rows: int

    def __str__(self) -> str:
        if self.column is None:
            return f"{self.table} ({self.rows} row{'s' if self.rows != 1 else ''})"
        return f"column {self.table}.{self.column} ({self.rows} non-null value{'s' if self.rows != 1 else ''})"


def sql_error(exc: psycopg.Error) -> str:
    """A psycopg error as one readable block: SQLSTATE, message, and the server's detail/hint/context."""
    diag = exc.diag
    parts = [f"[{exc.sqlstate or '-'}] {diag.message_primary or str(exc).strip()}"]
    for label, value in (("detail", diag.message_detail), ("hint", diag.message_hint), ("where", diag.context)):
        if value:
            parts.append(f"  {label}: {value.strip()}")
    return "\n".join(parts)


def _sql_error_line(exc: psycopg.Error) -> str:
    diag = exc.diag
    hint = f" ({diag.message_hint.strip()})" if diag.message_hint else ""
    return f"[{exc.sqlstate or '-'}] {(diag.message_primary or str(exc)).strip()}{hint}"


@contextmanager
def _backend(url: str) -> Iterator[DatabaseBackend]:
    connect(url).close()  # explain an unreachable server, a wrong password, a missing database
    backend = get_backend("postgresql+psycopg://" + url.split("://", 1)[1])
    try:
        yield backend
    finally:
        backend.connection.close()


@contextmanager
def _locked(backend: DatabaseBackend) -> Iterator[None]:
    try:
        with backend.lock(timeout=LOCK_TIMEOUT_S):
            yield
    except LockTimeout as exc:
        raise UserError(
            f"another migrate holds the migration lock ({exc}).\n"
            "Wait for it; if none is running (it was killed), run `pgbilling break-lock`."
        ) from None


def _applied(backend: DatabaseBackend) -> dict[str, datetime]:
    backend.get_applied_migration_hashes()  # creates or upgrades yoyo's own tables when needed
    query = backend.format_sql("SELECT migration_id, applied_at_utc FROM {0.migration_table_quoted}")
    return dict(backend.execute(query).fetchall())


def _states(backend: DatabaseBackend, migrations_dir: Path) -> list[MigrationState]:
    applied = _applied(backend)
    known = [m.id for m in read_migrations(str(migrations_dir))]
    states = [MigrationState(i, "applied" if i in applied else "pending", applied.get(i)) for i in known]
    missing = sorted(set(applied) - set(known))
    return states + [MigrationState(i, "missing", applied[i]) for i in missing]


def status(url: str, migrations_dir: Path = paths.MIGRATIONS) -> list[MigrationState]:
    with _backend(url) as backend:
        return _states(backend, migrations_dir)


def _refuse_edited_history(states: list[MigrationState]) -> None:
    missing = [s.id for s in states if s.state == "missing"]
    if missing:
        raise UserError(
            f"the database has migrations applied that this pgbilling does not have: {', '.join(missing)}.\n"
            "It was migrated by a newer pgbilling: upgrade pgbilling, or point it at another database."
        )
    # Applied migrations must be the first ones of the package: a pending one before an applied one means the
    # history was edited (a migration inserted or renamed after later ones were applied).
    first_pending = next((s.id for s in states if s.state == "pending"), None)
    applied_after = [s.id for s in states if s.state == "applied" and first_pending and s.id > first_pending]
    if applied_after:
        raise UserError(
            f"migration {first_pending} is pending but later ones are applied ({', '.join(applied_after)}): the "
            "package's migrations are not this database's history (one was inserted or renamed after later ones "
            "were applied).\nRestore the migrations as released; never edit released ones."
        )


def apply_functions(url: str, functions_dir: Path = paths.FUNCTIONS) -> list[str]:
    """Re-apply every functions/*.sql file, in file-name order, in one transaction, statement by statement: Citus
    forwards the text of a DDL statement on a distributed table to the workers, which take one statement only."""
    files = sorted(functions_dir.glob("*.sql"))
    with connect(url) as conn:
        for path in files:
            try:
                for statement in sqlparse.split(path.read_text(encoding="utf-8")):
                    conn.execute(statement)
            except psycopg.Error as exc:
                raise UserError(
                    f"functions/{path.name} failed:\n{sql_error(exc)}\n"
                    "All function files were rolled back; the migrations applied before them stay applied."
                ) from None
    return [p.name for p in files]


def migrate(
    url: str,
    console: Console | None = None,
    migrations_dir: Path = paths.MIGRATIONS,
    functions_dir: Path = paths.FUNCTIONS,
) -> list[str]:
    """Apply the pending migrations, each in its own transaction, then the functions. Returns the ids applied."""
    console = console or Console(quiet=True)
    migrations = read_migrations(str(migrations_dir))
    done: list[str] = []
    with _backend(url) as backend, _locked(backend):
        _refuse_edited_history(_states(backend, migrations_dir))
        pending = backend.to_apply(migrations)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("migrating", total=len(pending))
            for migration in pending:
                progress.update(task, description=migration.id)
                started = time.monotonic()
                try:
                    backend.apply_one(migration)
                except psycopg.Error as exc:
                    already = f" ({', '.join(done)} applied before it stay applied)" if done else ""
                    undone = ("was rolled back" if migration.use_transactions else
                              "was undone statement by statement (it runs outside a transaction; an index it was "
                              "building CONCURRENTLY may be left INVALID: drop it before migrating again)")
                    raise UserError(f"migration {migration.id} failed and {undone}{already}:\n{sql_error(exc)}") from None
                done.append(migration.id)
                console.print(f"applied {migration.id} ({time.monotonic() - started:.2f} s)")
                progress.advance(task)
        if not done:
            console.print("no pending migrations")
        names = apply_functions(url, functions_dir)
        console.print(f"applied {len(names)} function files" + (f": {', '.join(names)}" if names else ""))
        if _distributed(url):
            distribute(url)
            console.print("distributed what was new (the database is distributed on Citus)")
    return done


def _distributed(url: str) -> bool:
    """Whether the database is distributed on Citus (scale_out/distribute.sql ran)."""
    with connect(url) as conn:
        if conn.execute("SELECT to_regclass('pg_catalog.pg_dist_partition')").fetchone()[0] is None:
            return False
        return conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition"
                            " WHERE logicalrelid = to_regclass('billing.customer'))").fetchone()[0]


# What a rollback would drop, found by rehearsing it: every step it would take runs, newest first, in one transaction
# that is then rolled back, and the catalog is compared before and after each step. That sees what the SQL really
# drops (CASCADE, DROP SCHEMA, a DO block), which no parser of rollback files would, and it hits any refusal a later
# step raises (0014 refuses while number series are kept per customer) before the first step runs for real.
# CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction: the rehearsal runs them without CONCURRENTLY (the same
# catalog change). A table that a step drops counts with all its rows (even if the step created it anew), a column
# with its non-null values. Rows the migrations put there themselves (reference data: currencies, fees, ...) are not
# data: a second rehearsal applies the undone migrations again after rolling them back, and a table or column whose
# content then equals what it holds now loses nothing. The rehearsals take the locks the rollback takes, and rows
# written between the rehearsal and the rollback are not counted: stop the application first.
_CATALOG = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname), a.attnum, a.attname
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
"""

Catalog = dict[int, tuple[str, dict[int, str]]]  # table oid -> (qualified name, attnum -> column name)


def _catalog(conn: psycopg.Connection) -> Catalog:
    tables: Catalog = {}
    for oid, name, attnum, attname in conn.execute(_CATALOG):
        tables.setdefault(oid, (name, {}))[1][attnum] = attname
    return tables


def _rehearsable(path: Path) -> str:
    return re.sub(r"\bCONCURRENTLY\b", "", path.read_text(encoding="utf-8"), flags=re.IGNORECASE)


def _rollback_sql(migration: Migration) -> str:
    path = Path(migration.path).with_name(migration.id + ".rollback.sql")
    return _rehearsable(path) if path.is_file() else "SELECT"  # no rollback file: yoyo undoes nothing


def _fingerprint(conn: psycopg.Connection, table: str, column: str | None, digest: bool = True) -> tuple[int, str | None]:
    """How many rows (non-null values of the column) a table holds, and a digest of them in any order."""
    found = conn.execute("SELECT n.nspname, c.relname FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n"
                         " ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)", [table]).fetchone()
    if found is None:
        return (0, None)
    query = sql.SQL("SELECT count(v), {} FROM (SELECT ({})::text AS v FROM {}.{} AS t) AS s").format(
        sql.SQL("md5(string_agg(md5(v), '' ORDER BY md5(v)))" if digest else "NULL"),
        sql.SQL("t.{}").format(sql.Identifier(column)) if column else sql.SQL("t"),
        sql.Identifier(found[0]), sql.Identifier(found[1]))
    count, text = conn.execute(query).fetchone()
    return (count, text)


def _rehearse(url: str, steps: Sequence[Migration]) -> list[Loss]:
    """The rows the rollback steps (newest first) would drop; UserError if a step would fail. Changes nothing."""
    found: list[tuple[str, str, str | None]] = []  # (migration, table, column)
    with connect(url) as conn:
        try:
            current = _catalog(conn)
            for migration in steps:
                try:
                    conn.execute(_rollback_sql(migration))
                except psycopg.Error as exc:
                    raise UserError(f"rollback refused, nothing was rolled back: rolling back {migration.id} would fail: "
                                    f"{_sql_error_line(exc)}") from None
                after = _catalog(conn)
                for oid, (table, columns) in current.items():
                    if oid not in after:
                        found.append((migration.id, table, None))
                    else:
                        found += [(migration.id, table, columns[n]) for n in columns if n not in after[oid][1]]
                current = after
        finally:
            conn.rollback()
        dropped_tables = {table for _, table, column in found if column is None}
        candidates = []
        for migration_id, table, column in found:
            if column is not None and table in dropped_tables:
                continue  # a later step drops the whole table
            rows = _fingerprint(conn, table, column, digest=False)[0]
            if rows:
                candidates.append(Loss(migration_id, table, column, rows))
        conn.commit()
    if not candidates:
        return []
    replayed: dict[Loss, tuple[int, str | None]] = {}
    with connect(url) as conn:
        try:
            for migration in steps:
                conn.execute(_rollback_sql(migration))
            for migration in reversed(steps):
                conn.execute(_rehearsable(Path(migration.path)))
            replayed = {loss: _fingerprint(conn, loss.table, loss.column) for loss in candidates}
        except psycopg.Error:
            replayed = {}  # the migrations do not apply again in one transaction: every candidate counts
        finally:
            conn.rollback()
        return [loss for loss in candidates
                if loss not in replayed or replayed[loss][0] != loss.rows
                or _fingerprint(conn, loss.table, loss.column) != replayed[loss]]


def _rebuild_balances(url: str, done: list[str], console: Console) -> None:
    """After a rollback that dropped data: recompute the running totals whose history is gone."""
    with connect(url) as conn:
        try:
            if conn.execute("SELECT to_regprocedure('billing.rebuild_balances()')").fetchone()[0] is None:
                return
            changed = conn.execute("SELECT billing.rebuild_balances()").fetchone()[0]
        except psycopg.Error as exc:
            raise UserError(
                f"rolled back {', '.join(done)}, but recomputing the running totals whose history was dropped failed: "
                f"{_sql_error_line(exc)}. Fix that, then run `SELECT billing.rebuild_balances()`."
            ) from None
    console.print(f"recomputed {changed} running total{'s' if changed != 1 else ''} from the history left")


def rollback(
    url: str,
    to: str | None = None,
    console: Console | None = None,
    migrations_dir: Path = paths.MIGRATIONS,
    drop_data: bool = False,
) -> list[str]:
    """Roll back the last applied migration, or every applied migration after ``to`` (e.g. "0001";
    "0000" rolls back all). Refused, changing nothing, when a step would fail or would drop rows (tables or
    columns holding data), unless ``drop_data``. Function files are not re-applied: the next migrate does that."""
    console = console or Console(quiet=True)
    migrations = read_migrations(str(migrations_dir))
    if to is not None and not any(m.id.startswith(to + "_") for m in migrations) and to.strip("0"):
        raise UserError(f"--to {to}: no migration {to}_* in this package")
    if _distributed(url):
        raise UserError("rollback refused, nothing was rolled back: the database is distributed on Citus, where "
                        "migrations only go forward (README, Scale-out). Restore a backup instead.")
    done: list[str] = []
    with _backend(url) as backend, _locked(backend):
        _refuse_edited_history(_states(backend, migrations_dir))
        applied = list(backend.to_rollback(migrations))  # newest first
        chosen = applied[:1] if to is None else [m for m in applied if m.id.split("_", 1)[0] > to]
        losses = _rehearse(url, chosen) if chosen else []
        if losses and not drop_data:
            by_step = "; ".join(
                f"{step} drops {', '.join(str(loss) for loss in losses if loss.migration == step)}"
                for step in dict.fromkeys(loss.migration for loss in losses))
            raise UserError(f"rollback refused, nothing was rolled back: it would drop data: {by_step}. "
                            "Pass --drop-data to drop it (take a backup first), or restore a backup instead.")
        for loss in losses:
            console.print(f"dropping {loss} ({loss.migration})")
        for migration in chosen:
            try:
                backend.rollback_one(migration)
            except psycopg.Error as exc:
                raise UserError(f"rollback of {migration.id} failed and was undone:\n{sql_error(exc)}") from None
            done.append(migration.id)
            console.print(f"rolled back {migration.id}")
        if not done:
            console.print("nothing to roll back")
        if losses:
            _rebuild_balances(url, done, console)
    return done


def break_lock(url: str) -> None:
    with _backend(url) as backend:
        backend.break_lock()


def distribute(url: str) -> None:
    """Run scale_out/distribute.sql with psql; it refuses (55000) a database without the citus extension."""
    psql = shutil.which("psql") or str(server.bin_path("psql"))
    args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-f", str(paths.DISTRIBUTE_SCRIPT), url]
    done = subprocess.run([psql, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"distribute failed:\n{done.stderr.strip()}")
