"""A real Citus cluster for the tests: one coordinator and two workers on 127.0.0.1, from Debian's PostgreSQL 15
with Citus installed by ../shared/citus/install.sh (its README has the recipe this follows).

A distributed database is a database of the same name on every node, so a test's fresh database is the
template cloned on each node (CREATE DATABASE ... TEMPLATE): the clones hold the same Citus metadata and the same
shards. The template takes no connections, so the Citus maintenance daemons let go of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
WORKERS = 2


def installed() -> bool:
    return (BIN.parent / "lib" / "citus.so").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes = [root / f"node{i}" for i in range(WORKERS + 1)]
        self.ports = [free_port() for _ in self.nodes]

    def _run(self, *args: str | Path) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_postgres, *map(str, args)], check=True, capture_output=True, text=True)

    def start(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.root.parent, "postgres")
        for node, port in zip(self.nodes, self.ports):
            self._run(BIN / "initdb", "-D", node, "-U", "postgres", "--auth-local=trust", "--auth-host=trust",
                      "-E", "UTF8", "--locale=C.UTF-8")
            with open(node / "postgresql.conf", "a") as conf:
                conf.write(f"port={port}\nlisten_addresses='127.0.0.1'\nunix_socket_directories='{self.root}'\n"
                           "shared_preload_libraries='citus'\nmax_prepared_transactions=100\nmax_connections=300\n"
                           "fsync=off\nsynchronous_commit=off\nfull_page_writes=off\n" + os.environ.get("PGBILLING_CITUS_CONF", ""))
            self._run(BIN / "pg_ctl", "-D", node, "-l", f"{node}.log", "-w", "start")

    def stop(self) -> None:
        for node in self.nodes:
            if (node / "postmaster.pid").exists():
                self._run(BIN / "pg_ctl", "-D", node, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def port(self) -> int:
        return self.ports[0]

    def url(self, dbname: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def _on_each(self, *statements: str, dbname: str = "postgres") -> None:
        for port in self.ports:
            with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname,
                                 autocommit=True) as conn:
                for statement in statements:
                    conn.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A distributed database on every node: a clone of ``template``, or new and empty with the workers added."""
        self._on_each(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""))
        if template is None:
            self._on_each("CREATE EXTENSION citus", dbname=name)
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", [self.port])
                for port in self.ports[1:]:
                    conn.execute("SELECT citus_add_node('127.0.0.1', %s)", [port])
        return self.url(name)

    def seal(self, name: str) -> None:
        """Make ``name`` a template: no connections, so it can be cloned."""
        self._on_each(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false',
                      f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")

    def drop_database(self, name: str) -> None:
        self._on_each(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
