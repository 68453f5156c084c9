"""Helpers for the SQL API tests: call functions, snapshot the schema, assert a refusal changed nothing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb


class Api:
    """billing.<name>(args...) as api.<name>(args...); dicts and lists go as jsonb."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any) -> Any:
            values = [Jsonb(a) if isinstance(a, dict | list) else a for a in args]
            placeholders = ", ".join(["%s"] * len(values))
            return self.conn.execute(f"SELECT billing.{name}({placeholders})", values).fetchone()[0]

        return call


def snapshot(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Every row of every table of schema billing, as sorted text."""
    tables = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'billing' AND c.relkind = 'r' ORDER BY 1"
    )]
    return {t: [r[0] for r in conn.execute(f"SELECT x::text FROM billing.{t} AS x ORDER BY 1")] for t in tables}


def refused(conn: psycopg.Connection, sqlstate: str, sql: str, params: Any = None) -> psycopg.Error:
    """Run sql (autocommit): it must fail with sqlstate and leave every billing table as it was."""
    before = snapshot(conn)
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
    assert caught.value.sqlstate == sqlstate, f"expected {sqlstate}, got {caught.value.sqlstate}: {caught.value}"
    assert snapshot(conn) == before, "a refused call changed the database"
    return caught.value


def row(conn: psycopg.Connection, sql: str, params: Any = None) -> dict[str, Any]:
    cur = conn.execute(sql, params)
    values = cur.fetchone()
    assert values is not None, f"no row: {sql}"
    return dict(zip([c.name for c in cur.description], values))


D = Decimal

# The scope of every number series in this run: global (INV-000001) or per_customer (INV-7-000001).
NUMBERING = os.environ.get("PGBILLING_TEST_NUMBERING", "global")
CITUS = os.environ.get("PGBILLING_TEST_CITUS") == "1"  # the suite runs on a real Citus cluster (tests/citus.py)


def doc_no(prefix: str, n: int, customer: int) -> str:
    """The number of customer's document n of a series, as this run numbers them."""
    return f"{prefix}-{customer}-{n:06d}" if NUMBERING == "per_customer" else f"{prefix}-{n:06d}"


def lock_waits(conn: psycopg.Connection) -> int:
    """How many other sessions of this database wait on a lock: on every node of a Citus cluster, where a call
    runs on the node of its customer."""
    if CITUS:
        query = ("SELECT count(DISTINCT global_pid) FROM citus_stat_activity WHERE wait_event_type = 'Lock'"
                 " AND datname = current_database() AND global_pid <> citus_backend_gpid()")
    else:
        query = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                 " AND datname = current_database() AND pid <> pg_backend_pid()")
    return conn.execute(query).fetchone()[0]


def wait_until_blocked(conn: psycopg.Connection, limit_s: float = 60, sessions: int = 1) -> None:
    """Return once another session (or as many as given) of this database waits on a lock. Polls; fails (rather
    than hangs) when none does within limit_s, which means the lock the test relies on was never taken."""
    deadline = time.monotonic() + limit_s
    while lock_waits(conn) < sessions:
        assert time.monotonic() < deadline, "no other session blocked on a lock"


def run_together(url: str, jobs: list[Callable[[psycopg.Connection], object]]) -> list[object]:
    """Run each job on its own autocommit connection, all released at once; returns results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(i: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait()
            try:
                results[i] = jobs[i](conn)
            except psycopg.Error as exc:
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@contextmanager
def triggers_off(db: psycopg.Connection) -> Iterator[None]:
    """What a superuser can do: write with every trigger and foreign key off (session_replication_role = replica),
    in one transaction; on Citus the setting goes to the workers too, where the rows are written."""
    with db.transaction():
        if CITUS:
            db.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        db.execute("SET LOCAL session_replication_role = replica")
        yield


def behind_the_triggers(db: psycopg.Connection, statement: str, params: object = None) -> None:
    with triggers_off(db):
        db.execute(statement, params)
