"""Where the SQL lives: inside the installed wheel, or in the source checkout (editable install)."""

from importlib.resources import files
from pathlib import Path

_PACKAGED = Path(str(files("pgbilling"))) / "sql"
_CHECKOUT = Path(__file__).resolve().parents[2]

SQL_ROOT = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
MIGRATIONS = SQL_ROOT / "migrations"
FUNCTIONS = SQL_ROOT / "functions"
SEEDS = SQL_ROOT / "seeds"
SCHEMA_FILE = SQL_ROOT / "schema" / "pgbilling.sql"
ER_DIAGRAM_FILE = SQL_ROOT / "docs" / "er-diagram.md"
DISTRIBUTE_SCRIPT = SQL_ROOT / "scale_out" / "distribute.sql"
