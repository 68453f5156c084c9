"""Test harness: one PostgreSQL server per session; migrations + functions applied ONCE to a
template database; every test gets a fresh database cloned from it (pytest-postgresql).

The server is the embedded PostgreSQL 18, started here in a temporary folder, unless
PGBILLING_TEST_HOST names another one (a host name or a socket folder); PGBILLING_TEST_PORT,
PGBILLING_TEST_USER and PGBILLING_TEST_PASSWORD complete it. The test user needs CREATEDB,
and superuser for the tests that check functions with plpgsql_check.
PGBILLING_TEST_NUMBERING=per_customer runs the suite with every number series kept per customer.
PGBILLING_TEST_CITUS=1 runs it on a real Citus cluster instead (tests/citus.py), distributed by customer.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from pytest_postgresql import factories

import citus
from helpers import CITUS, NUMBERING
from pgbilling import migrate, paths, server

# One folder per pytest process, so concurrent runs on one machine do not share a server.
TEST_ROOT = Path(tempfile.gettempdir()) / f"pgbilling-pytest-{os.getuid()}"
TEST_PGDATA = TEST_ROOT / str(os.getpid()) / "pgdata"
CLUSTER = citus.Cluster(TEST_ROOT / str(os.getpid()) / "citus")


def stop_orphans() -> None:
    """Stop and remove the servers of pytest runs that are gone (e.g. killed with SIGKILL)."""
    for run in TEST_ROOT.glob("*"):
        if run.name.isdigit() and int(run.name) != os.getpid() and not Path(f"/proc/{run.name}").exists():
            server.stop(run / "pgdata", mode="immediate")
            citus.Cluster(run / "citus").stop()
            shutil.rmtree(run, ignore_errors=True)


def make_url(host: str, port: int | str, user: str, dbname: str, password: str | None = None, **_: object) -> str:
    auth = quote(user) + (":" + quote(password) if password else "")
    return f"postgresql://{auth}@/{quote(dbname)}?{urlencode({'host': host, 'port': port})}"


def url_of(conn: psycopg.Connection) -> str:
    info = conn.info
    return make_url(info.host, info.port, info.user, info.dbname, info.password or None)


def pytest_configure(config: pytest.Config) -> None:
    if NUMBERING not in ("global", "per_customer"):
        raise pytest.UsageError(f"PGBILLING_TEST_NUMBERING must be global or per_customer, not {NUMBERING!r}")
    if CITUS:
        if NUMBERING != "per_customer" or not citus.installed():
            raise pytest.UsageError("PGBILLING_TEST_CITUS=1 needs PGBILLING_TEST_NUMBERING=per_customer and Citus "
                                    "installed in PostgreSQL 15 (bash ../shared/citus/install.sh)")
        stop_orphans()
        CLUSTER.start()
        config.add_cleanup(CLUSTER.stop)
        host, port, user = "127.0.0.1", CLUSTER.port, "postgres"
    elif os.environ.get("PGBILLING_TEST_HOST"):
        host = os.environ["PGBILLING_TEST_HOST"]
        port = os.environ.get("PGBILLING_TEST_PORT", "5432")
        user = os.environ.get("PGBILLING_TEST_USER") or os.environ.get("USER", "postgres")
        config.option.postgresql_password = os.environ.get("PGBILLING_TEST_PASSWORD")
    else:
        stop_orphans()
        info = psycopg.conninfo.conninfo_to_dict(server.fresh(TEST_PGDATA))
        host, port, user = info["host"], info["port"], "postgres"
        config.add_cleanup(lambda: (server.stop(TEST_PGDATA), shutil.rmtree(TEST_PGDATA.parent, ignore_errors=True)))
    config.option.postgresql_host = host
    config.option.postgresql_port = port
    config.option.postgresql_user = user


# The tests that cannot hold on a Citus cluster (PGBILLING_TEST_CITUS=1), by node id or module, and why; README
# (Tests) lists them too. Everything else runs there as on a single server.
CITUS_SKIPS = {
    "tests/test_bench.py": "the benchmark runs in plain databases of its own beside the target, numbered globally",
    "tests/test_chain.py::test_an_upgraded_database_links_its_existing_entries_in_chain_order":
        "it rolls back a migration: a distributed database only migrates forward",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not CITUS:
        return
    for item in items:
        reason = CITUS_SKIPS.get(item.nodeid) or CITUS_SKIPS.get(item.nodeid.split("::")[0])
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"on Citus: {reason}"))


def load_pgbilling(**kwargs: object) -> None:
    """pytest-postgresql loader: migrations + functions into the template database, numbering as asked."""
    url = make_url(**kwargs)  # type: ignore[arg-type]
    migrate.migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE billing.document_series SET scope = %(s)s WHERE scope <> %(s)s", {"s": NUMBERING})


postgresql_noproc = factories.postgresql_noproc(load=[load_pgbilling])
empty_noproc = factories.postgresql_noproc(dbname="pgbilling_empty")
if not CITUS:
    postgresql = factories.postgresql("postgresql_noproc")
    empty_postgresql = factories.postgresql("empty_noproc")
else:
    DATABASE_NAMES = (f"pgbilling_test_{n}" for n in itertools.count())

    @pytest.fixture(scope="session")
    def citus_template() -> str:
        """A migrated and distributed database, cloned for every test."""
        url = CLUSTER.create_database("pgbilling_template")
        migrate.migrate(url)
        migrate.distribute(url)
        CLUSTER.seal("pgbilling_template")
        return "pgbilling_template"

    def citus_database(template: str | None) -> Iterator[psycopg.Connection]:
        name = next(DATABASE_NAMES)
        with psycopg.connect(CLUSTER.create_database(name, template), autocommit=True) as conn:
            if template:  # a clone has the template's rows, not its settings: those of scale_out/distribute.sql
                conn.execute(f'ALTER DATABASE "{name}" SET citus.enable_unsafe_triggers = on')
            conn.autocommit = False
            yield conn
        CLUSTER.drop_database(name)

    @pytest.fixture
    def postgresql(citus_template: str) -> Iterator[psycopg.Connection]:
        yield from citus_database(citus_template)

    @pytest.fixture
    def empty_postgresql() -> Iterator[psycopg.Connection]:
        yield from citus_database(None)


@pytest.fixture
def citus_cluster() -> citus.Cluster:
    """The Citus cluster the suite runs on (PGBILLING_TEST_CITUS=1)."""
    return CLUSTER


@pytest.fixture
def db_url(postgresql: psycopg.Connection) -> str:
    """URL of a fresh, fully migrated database."""
    postgresql.commit()
    return url_of(postgresql)


@pytest.fixture
def empty_url(empty_postgresql: psycopg.Connection) -> str:
    """URL of a fresh database on which nothing was migrated."""
    empty_postgresql.commit()
    return url_of(empty_postgresql)


def pytest_sessionstart(session: pytest.Session) -> None:
    if paths.SQL_ROOT != Path(__file__).resolve().parents[1]:
        pytest.exit("pgbilling is installed from a copy, so the tests would not see this checkout's SQL: "
                    "install it editable (pip install -e '.[test]')", returncode=4)


@pytest.fixture
def db(postgresql: psycopg.Connection) -> psycopg.Connection:
    """A fresh migrated database, in autocommit: each statement is its own transaction."""
    postgresql.commit()
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def api(db: psycopg.Connection):  # noqa: ANN201 (helpers.Api)
    from helpers import Api

    return Api(db)


@pytest.fixture
def shop(api) -> dict[str, int]:  # noqa: ANN001
    """A customer with two products (A-1 at any price, B-2) and a second customer."""
    api.create_product("A-1", "Widget")
    api.create_product("B-2", "Gadget")
    return {"customer": api.create_customer("Alice", "alice@example.com"), "other": api.create_customer("Bob")}
