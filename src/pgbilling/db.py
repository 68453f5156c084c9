"""The target database: --database URL, DATABASE_URL, or the embedded default server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from pgbilling import server
from pgbilling.errors import UserError


def describe(url: str) -> str:
    """Where a URL points, without its password: user@host:port/dbname."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise UserError(f"invalid database URL: {exc}") from None
    host = info.get("host") or os.environ.get("PGHOST") or "local socket"
    port = info.get("port") or os.environ.get("PGPORT") or "5432"
    user = info.get("user") or os.environ.get("PGUSER") or "(default user)"
    return f"{user}@{host}:{port}/{info.get('dbname') or os.environ.get('PGDATABASE') or '(default)'}"


def with_dbname(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return urlsplit(url)._replace(path="/" + dbname).geturl()


# psycopg reports no SQLSTATE for a failed connection, so the cause is read from libpq's text;
# the full message is always shown, so an unrecognised (e.g. translated) one still says what failed.
_CONNECT_FAILURES = (
    ("password authentication failed", "wrong password", "Check the password in --database or DATABASE_URL."),
    ("does not exist", "missing database or role", "Create it first (createdb, createuser) or name an existing one."),
    ("no pg_hba.conf entry", "access refused", "Ask the DBA for a pg_hba.conf entry for this user and host."),
)


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """psycopg.connect, with connection failures explained to a person."""
    where = describe(url)
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        message = " ".join(str(exc).split())
        for needle, what, advice in _CONNECT_FAILURES:
            if needle in message:
                raise UserError(f"{what} at {where}: {message}\n{advice}") from None
        raise UserError(
            f"cannot reach PostgreSQL at {where}: {message}\n"
            "Is the server running, and are host and port in --database or DATABASE_URL right?"
        ) from None


def _maintenance(url: str) -> tuple[psycopg.Connection, str]:
    """An autocommit connection to the URL's server (database postgres), and the URL's own database name."""
    return connect(with_dbname(url, "postgres"), autocommit=True), psycopg.conninfo.conninfo_to_dict(url)["dbname"]


def ensure_database(url: str) -> None:
    """Create the URL's database when it does not exist yet (used for the embedded server)."""
    conn, dbname = _maintenance(url)
    with conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def drop_database(url: str) -> None:
    conn, dbname = _maintenance(url)
    with conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def recreate_database(url: str) -> None:
    """Drop (if present) and create the URL's database."""
    drop_database(url)
    conn, dbname = _maintenance(url)
    with conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


@contextmanager
def target(database: str | None) -> Iterator[str]:
    """Yield the URL to work on. With no URL given, the embedded server is used: started
    when it is down (and stopped again afterwards), its ``pgbilling`` database created."""
    url = database or os.environ.get("DATABASE_URL")
    if url:
        describe(url)  # reject a malformed URL before anything else
        yield url
        return
    pgdata = server.data_dir() / "pgdata"
    url = server.running_url(pgdata)
    started = url is None
    if started:
        url = server.start(pgdata)
    try:
        ensure_database(url)
        yield url
    finally:
        if started:
            server.stop(pgdata)
