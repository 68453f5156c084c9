"""schema/pgbilling.sql: pg_dump --schema-only of a freshly migrated database, cleaned of
what differs between PostgreSQL versions and runs, so the committed file only changes with the schema."""

from __future__ import annotations

import os
import re
import subprocess

from pgbilling import db, migrate, server
from pgbilling.errors import UserError

_NOISE = re.compile(
    r"^(--.*Dumped (from|by) .*|\\(un)?restrict .*|SET .*|SELECT pg_catalog\.set_config\('search_path'.*)$"
)


def clean(dump: str) -> str:
    """Drop version lines, session settings and psql restrict keys; squeeze blank runs."""
    lines = [line for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip() + "\n"


def dump(url: str) -> str:
    """The cleaned schema-only dump of schema billing in the URL's database.

    Always the wheel's pg_dump (the newest supported version, which reads every older server),
    so PostgreSQL 15 and 18 servers give the same text."""
    args = [str(server.bin_path("pg_dump")), "--schema-only", "--schema=billing",
            "--no-owner", "--no-privileges", "--no-tablespaces", "--dbname", url]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    if done.returncode != 0:
        raise UserError(f"pg_dump failed: {done.stderr.strip()}")
    return clean(done.stdout)


def dump_fresh(url: str) -> str:
    """Migrate a scratch database on the URL's server, dump it, drop it."""
    scratch = db.with_dbname(url, f"pgbilling_dump_{os.getpid()}")
    db.recreate_database(scratch)
    try:
        migrate.migrate(scratch)
        return dump(scratch)
    finally:
        db.drop_database(scratch)
