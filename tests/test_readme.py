"""README is the manual: it names every table, view and API function of schema billing, and nothing that is not there.
(Its SQL examples are run by tests/test_schema.py.)"""

from __future__ import annotations

import re

import psycopg

from pgbilling import paths

# Functions the API calls internally; applications have no reason to call them.
INTERNAL = {
    "add_line", "bill_order_item", "cancel_invoice", "check_money", "check_period", "document_label",
    "lock_order", "lock_payment", "lock_series", "lock_settled_invoice", "minor_units", "release_settlements", "require",
    "credit_shares", "source_label", "validate_lines",
}


def test_readme_names_every_table_view_and_api_function_and_nothing_else(postgresql: psycopg.Connection) -> None:
    readme = (paths.SQL_ROOT / "README.md").read_text(encoding="utf-8")
    objects = dict(postgresql.execute(
        """
        SELECT c.relname, 'table or view' FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'billing' AND c.relkind IN ('r', 'v')
        UNION
        SELECT p.proname, 'function' FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = 'billing' AND p.prorettype <> 'trigger'::regtype
        """
    ).fetchall())
    unnamed = sorted(f"{kind} {name}" for name, kind in objects.items()
                     if name not in INTERNAL and not re.search(rf"\b{name}\b", readme))
    assert unnamed == [], f"README does not mention: {unnamed}"
    unknown = sorted(set(re.findall(r"\bbilling\.(\w+)", readme)) - set(objects))
    assert unknown == [], f"README names billing objects that do not exist: {unknown}"
    assert INTERNAL <= set(objects), f"INTERNAL lists functions that are gone: {INTERNAL - set(objects)}"
