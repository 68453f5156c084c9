"""`pgbilling report NAME`: runs one of schema billing's reports and prints it as a table, CSV or JSON.

Every figure comes from the SQL function or view of the same name; this module only passes the options
as named arguments and formats the rows."""

from __future__ import annotations

import sys
from typing import NamedTuple

import psycopg
from psycopg import sql
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from pgbilling import db
from pgbilling.errors import UserError
from pgbilling.migrate import sql_error


class Report(NamedTuple):
    function: bool  # a set-returning function, else a view (filtered by --customer when given)
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


# Option name -> SQL argument name of the functions.
ARGUMENTS = {"as_of": "p_as_of", "customer": "p_customer_id", "from": "p_from", "to": "p_to"}
REPORTS = {
    "ar_aging": Report(True, optional=("as_of",)),
    "open_items": Report(True, optional=("as_of",)),
    "customer_statement": Report(True, required=("customer", "from", "to")),
    "tax_summary": Report(True, required=("from", "to")),
    "revenue_by_line_type": Report(True, required=("from", "to")),
    "unapplied_cash": Report(False),
    "customer_balance": Report(False),
    "order_summary": Report(False),
    "invoice_summary": Report(False),
    "payment_summary": Report(False),
}


def query(name: str, options: dict[str, str | None]) -> tuple[sql.Composed, list[str]]:
    """The SELECT for report NAME, and its parameters (option values as text; PostgreSQL casts them)."""
    report = REPORTS[name]
    given = {k: v for k, v in options.items() if v is not None}
    missing = [f"--{k.replace('_', '-')}" for k in report.required if k not in given]
    if missing:
        raise UserError(f"report {name} needs {', '.join(missing)}")
    allowed = report.required + report.optional if report.function else ("customer",)
    extra = [f"--{k.replace('_', '-')}" for k in given if k not in allowed]
    if extra:
        raise UserError(f"report {name} takes no {', '.join(extra)}")
    target = sql.Identifier("billing", name)
    if not report.function:
        where = sql.SQL(" WHERE customer_id = %s::bigint") if given else sql.SQL("")
        # every view leads with the customer and its key columns
        return sql.SQL("SELECT * FROM {}{} ORDER BY 1, 2, 3, 4").format(target, where), list(given.values())
    args = sql.SQL(", ").join(sql.SQL("{} => %s").format(sql.Identifier(ARGUMENTS[k])) for k in given)
    return sql.SQL("SELECT * FROM {}({})").format(target, args), list(given.values())


def table(cur: psycopg.Cursor, title: str) -> Table:
    """A query's rows as a rich table; numbers right-aligned."""
    numeric = psycopg.adapters.types["numeric"].oid
    result = Table(title=title, box=box.SIMPLE_HEAD)
    for column in cur.description:
        result.add_column(column.name, justify="right" if column.type_code == numeric else "left")
    for values in cur:
        result.add_row(*("" if v is None else str(v) for v in values))
    return result


def run(url: str, name: str, options: dict[str, str | None], fmt: str, out: Console) -> None:
    select, params = query(name, options)
    with db.connect(url) as conn:
        conn.read_only = True
        try:
            if fmt == "csv":
                with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(select),
                                        params) as copy:
                    for chunk in copy:
                        sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            elif fmt == "json":
                # PostgreSQL writes the JSON, so numeric values keep every digit.
                text = sql.SQL("SELECT coalesce(json_agg(r), '[]')::text FROM ({}) AS r").format(select)
                sys.stdout.write(conn.execute(text, params).fetchone()[0] + "\n")
            else:
                rows = table(conn.execute(select, params), f"billing.{name}")
                # as wide as the rows need, rather than cropped to the terminal: reports are read in full
                wide = Measurement.get(out, out.options.update_width(10_000), rows).maximum
                Console(highlight=False, width=max(out.width, wide)).print(rows)
        except psycopg.Error as exc:
            raise UserError(f"report {name} failed:\n{sql_error(exc)}") from None
