"""Migrations through yoyo-migrations' API, then the repeatable functions/, under yoyo's lock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import Progress
from yoyo import get_backend, read_migrations
from yoyo.backends.base import DatabaseBackend
from yoyo.exceptions import LockTimeout

from pgbilling import paths
from pgbilling.db import connect
from pgbilling.errors import UserError

LOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class MigrationState:
    id: str
    state: str  # "applied", "pending", or "missing" (applied, but not in this package)
    applied_at: datetime | None


def sql_error(exc: psycopg.Error) -> str:
    """A psycopg error as one readable block: SQLSTATE, message, and the server's detail/hint/context."""
    diag = exc.diag
    parts = [f"[{exc.sqlstate or '-'}] {diag.message_primary or str(exc).strip()}"]
    for label, value in (("detail", diag.message_detail), ("hint", diag.message_hint), ("where", diag.context)):
        if value:
            parts.append(f"  {label}: {value.strip()}")
    return "\n".join(parts)


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
    """Re-apply every functions/*.sql file, in file-name order, in one transaction."""
    files = sorted(functions_dir.glob("*.sql"))
    with connect(url) as conn:
        for path in files:
            try:
                conn.execute(path.read_text(encoding="utf-8"))
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
    return done


def rollback(
    url: str,
    to: str | None = None,
    console: Console | None = None,
    migrations_dir: Path = paths.MIGRATIONS,
) -> list[str]:
    """Roll back the last applied migration, or every applied migration after ``to`` (e.g. "0001";
    "0000" rolls back all). Function files are not re-applied: the next migrate does that."""
    console = console or Console(quiet=True)
    migrations = read_migrations(str(migrations_dir))
    if to is not None and not any(m.id.startswith(to + "_") for m in migrations) and to.strip("0"):
        raise UserError(f"--to {to}: no migration {to}_* in this package")
    done: list[str] = []
    with _backend(url) as backend, _locked(backend):
        _refuse_edited_history(_states(backend, migrations_dir))
        applied = list(backend.to_rollback(migrations))  # newest first
        chosen = applied[:1] if to is None else [m for m in applied if m.id.split("_", 1)[0] > to]
        for migration in chosen:
            try:
                backend.rollback_one(migration)
            except psycopg.Error as exc:
                raise UserError(f"rollback of {migration.id} failed and was undone:\n{sql_error(exc)}") from None
            done.append(migration.id)
            console.print(f"rolled back {migration.id}")
        if not done:
            console.print("nothing to roll back")
    return done


def break_lock(url: str) -> None:
    with _backend(url) as backend:
        backend.break_lock()
