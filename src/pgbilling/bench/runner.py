"""The five comparisons of README's Performance section, each a ratio of two figures measured in the same run,
alternating A and B round by round so a machine that slows down or warms up hurts both alike.

The benchmark works in databases of its own next to the target's (<name>_bench_ops, _small, _large, _migrate),
created fresh and dropped at the end (unless kept): it never writes into the target database itself.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from yoyo import read_migrations

from pgbilling import db, migrate, paths
from pgbilling.bench import load, pgbench
from pgbilling.errors import UserError

BARE_TABLES = ("invoice", "invoice_line", "invoice_fee_line", "invoice_discount_line", "invoice_tax_line",
               "invoice_balance")
SYNC_SETTINGS = ("on", "off")
PAST_DAYS = (30, 365, 1000)


@dataclass(frozen=True)
class Options:
    scale: float = 0.1
    clients: int = 8
    seconds: float = 5.0  # per pgbench throughput run
    transactions: int = 100  # per latency run (comparison 2), per round
    rounds: int = 3
    keep: bool = False


@dataclass(frozen=True)
class Sizes:
    """Row counts for a scale: the issue's numbers times the scale (customers, not history per customer)."""

    aging_customers: int
    large_per_customer: int
    small_per_customer: int
    open_per_customer: int
    history_invoices: int
    many_open: int
    hot: int
    cold: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        return cls(aging_customers=max(1, round(1000 * scale)), large_per_customer=1000, small_per_customer=100,
                   open_per_customer=10, history_invoices=max(10, round(100_000 * scale)),
                   many_open=max(10, round(10_000 * scale)), hot=100 if scale >= 0.01 else 10,
                   cold=max(100, round(10_000 * scale)))


@dataclass
class Comparison:
    """One row of the results table: B against A (or a figure against a limit), with its goal."""

    number: int
    title: str
    setting: str
    a_label: str
    a_value: float
    b_label: str
    b_value: float
    unit: str
    ratio: float
    ratio_label: str
    goal: str
    met: bool | None


@dataclass
class Results:
    options: Options
    sizes: Sizes
    started: datetime
    server_version: str = ""
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    comparisons: list[Comparison] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Bench:
    def __init__(self, url: str, options: Options, say: Callable[[str], None]) -> None:
        self.url = url
        self.options = options
        self.say = say
        self.sizes = Sizes.at(options.scale)
        self.results = Results(options, self.sizes, datetime.now(UTC))
        base = psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "pgbilling"
        self.urls = {name: db.with_dbname(url, f"{base}_bench_{name}") for name in ("ops", "small", "large", "migrate")}
        self._clock = time.monotonic()

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.results.seconds[name] = round(now - self._clock, 1)
        self._clock = now
        self.say(f"{name}: {self.results.seconds[name]:.1f} s")

    # -- setup ------------------------------------------------------------------------------------------------

    def check_server(self) -> None:
        with db.connect(db.with_dbname(self.url, "postgres")) as conn:
            row = conn.execute("SELECT rolsuper, version() FROM pg_roles WHERE rolname = current_user").fetchone()
        if not row[0]:
            raise UserError("pgbilling bench bulk-loads with triggers off for its own session, which needs a "
                            "superuser: run it as one (the embedded server's postgres is), on a server of its own")
        self.results.server_version = row[1]

    def fresh(self, name: str) -> str:
        url = self.urls[name]
        db.recreate_database(url)
        migrate.migrate(url)
        return url

    def setup(self) -> None:
        s = self.sizes
        ops = self.fresh("ops")
        self.ops = load.load(ops, [
            load.Group("issue", self.options.clients),
            load.Group("alloc_fresh", 1, 10, 10),
            load.Group("alloc_history", 1, s.history_invoices + 10, 10),
            load.Group("alloc_many", 1, s.many_open, s.many_open),
            load.Group("hot", s.hot, 10, 10, fee=100_000),
            load.Group("cold", s.cold, 2, 2, fee=100_000),
        ], progress=lambda p: self.say(f"  ops: {p}"))
        with psycopg.connect(ops, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA bench_bare")
            for table in BARE_TABLES:
                key = conn.execute(
                    "SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))"
                    " FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                    " WHERE i.indrelid = %s::regclass AND i.indisprimary", [f"billing.{table}"]).fetchone()[0]
                conn.execute(sql.SQL(
                    "CREATE TABLE bench_bare.{t} (LIKE billing.{t} INCLUDING DEFAULTS INCLUDING IDENTITY, PRIMARY KEY ({k}))"
                ).format(t=sql.Identifier(table), k=sql.SQL(", ").join(map(sql.Identifier, key))))
            conn.execute("CREATE TABLE bench_bare.tick (id integer PRIMARY KEY, n bigint NOT NULL)")
            conn.execute("INSERT INTO bench_bare.tick VALUES (1, 0)")
            conn.execute("VACUUM ANALYZE")
        self.step("load ops database (comparisons 1, 2, 4)")
        small = self.fresh("small")
        self.small = load.load(small, [load.Group("aging", s.aging_customers, s.small_per_customer, s.open_per_customer)],
                               progress=lambda p: self.say(f"  small: {p}"))
        large = self.fresh("large")
        self.large = load.load(large, [load.Group("aging", s.aging_customers, s.large_per_customer, s.open_per_customer)],
                               progress=lambda p: self.say(f"  large: {p}"))
        for url in (small, large):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        self.results.details["load"] = {
            name: {"invoices": got.invoices, "payments": got.payments, "allocations": got.allocations,
                   "chain links": got.chain_links, "seconds": {k: round(v, 1) for k, v in got.seconds.items()}}
            for name, got in (("ops", self.ops), ("small", self.small), ("large", self.large))
        }
        self.step("load history databases (comparison 3)")

    # -- comparisons ------------------------------------------------------------------------------------------

    def _add(self, *args: object, goal_ok: Callable[[float], bool] | None = None) -> None:
        c = Comparison(*args, met=None)  # type: ignore[arg-type]
        c.met = goal_ok(c.ratio) if goal_ok else None
        self.results.comparisons.append(c)

    def integrity(self) -> None:
        o, ops = self.options, self.urls["ops"]
        n = o.clients
        issue = {"first_customer": self.ops.first_customer["issue"], "customers": n}
        raw: dict[str, dict[str, list[float]]] = {}
        for sync in SYNC_SETTINGS:
            settings = {"synchronous_commit": sync}
            scripts = {"api_1": ("issue_api", 1), "calls_1": ("issue_api_calls", 1), "bare_1": ("issue_bare", 1),
                       f"api_{n}": ("issue_api", n), f"bare_{n}": ("issue_bare", n)}
            runs: dict[str, list[float]] = {k: [] for k in [*scripts, "commit_ms"]}
            for _ in range(o.rounds):
                for key, (script, clients) in scripts.items():
                    got = pgbench.run(ops, script, clients=clients, seconds=o.seconds, variables=issue, settings=settings)
                    runs[key].append(got.tps)
                tick = pgbench.run(ops, "commit_latency", clients=1, seconds=o.seconds, settings=settings)
                runs["commit_ms"].append(tick.mean_ms)
            raw[sync] = runs
            setting = f"synchronous_commit={sync}"
            api1, bare1 = _median(runs["api_1"]), _median(runs["bare_1"])
            self._add(1, "Cost of integrity: 5-line invoice, API vs bare tables, 1 client", setting,
                      "bare tables", bare1, "pgbilling API", api1, "invoices/s", api1 / bare1, "API / bare",
                      ">= 0.75", goal_ok=lambda r: r >= 0.75)
            calls1 = _median(runs["calls_1"])
            self._add(1, "Cost of integrity: the same invoice in 7 API calls (create, 5 add_*_line, issue), 1 client",
                      setting, "bare tables", bare1, "pgbilling API, 7 calls", calls1, "invoices/s", calls1 / bare1,
                      "API / bare", "(report)")
            apin, baren = _median(runs[f"api_{n}"]), _median(runs[f"bare_{n}"])
            self._add(1, f"Cost of integrity: 5-line invoice, API vs bare tables, {n} clients", setting,
                      "bare tables", baren, "pgbilling API", apin, "invoices/s", apin / baren, "API / bare",
                      "(report)")
            limit = 1000 / _median(runs["commit_ms"])
            self._add(1, f"Gapless series: API at {n} clients vs 1 / commit latency", setting,
                      f"1 / commit latency ({_median(runs['commit_ms']):.3f} ms)", limit, "pgbilling API", apin,
                      "invoices/s", apin / limit, "API / limit", ">= 0.8", goal_ok=lambda r: r >= 0.8)
        self.results.details["comparison 1 (per round)"] = raw
        self.step("comparison 1: cost of integrity")

    def allocation(self) -> None:
        o, ops = self.options, self.urls["ops"]
        cases = {
            "10 open, no history": self.ops.first_customer["alloc_fresh"],
            f"10 open, {self.sizes.history_invoices:,} paid": self.ops.first_customer["alloc_history"],
            f"{self.sizes.many_open:,} open": self.ops.first_customer["alloc_many"],
        }
        latencies: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(o.rounds):
            for label, customer in cases.items():
                got = pgbench.run(ops, "allocate", clients=1, transactions=o.transactions, variables={"cid": customer})
                latencies[label].extend(got.latencies_ms)
        runs = {k: pgbench.Run("allocate", 1, 0, len(v), 0, False, tuple(v)) for k, v in latencies.items()}
        (a_label, a), *others = runs.items()
        for b_label, b in others:
            for p in (50, 95):
                self._add(2, f"auto_allocate p{p} latency: {b_label} vs {a_label}", "", a_label, a.percentile(p),
                          b_label, b.percentile(p), "ms", b.percentile(p) / a.percentile(p), "B / A", "<= 1.5",
                          goal_ok=lambda r: r <= 1.5)
        self.results.details["comparison 2 (ms)"] = {
            k: {"p50": round(r.percentile(50), 3), "p95": round(r.percentile(95), 3), "n": len(r.latencies_ms)}
            for k, r in runs.items()
        }
        self.step("comparison 2: allocation vs history")

    def _time(self, url: str, query: str, params: object = None) -> float:
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            conn.execute(query, params).fetchall()
            return (time.perf_counter() - started) * 1000

    def reports(self) -> None:
        o = self.options
        small, large = self.urls["small"], self.urls["large"]
        aging = "SELECT * FROM billing.ar_aging()"
        times: dict[str, list[float]] = {"small": [], "large": [], "naive": [], "large again": []}
        for url in (small, large):
            self._time(url, aging)  # warm the cache
        for _ in range(o.rounds):
            times["small"].append(self._time(small, aging))
            times["large"].append(self._time(large, aging))
        for _ in range(o.rounds):
            times["naive"].append(self._time(large, NAIVE_AGING))
            times["large again"].append(self._time(large, aging))
        s, lg, nv, lg2 = (_median(times[k]) for k in ("small", "large", "naive", "large again"))
        total_small = self.small.invoices
        total_large = self.large.invoices
        opened = self.sizes.aging_customers * self.sizes.open_per_customer
        self._add(3, f"ar_aging now: {total_large:,} vs {total_small:,} invoices, {opened:,} open", "",
                  f"{total_small:,} invoices", s, f"{total_large:,} invoices", lg, "ms", lg / s, "B / A", "<= 1.5",
                  goal_ok=lambda r: r <= 1.5)
        self._add(3, f"ar_aging vs naive aging from lines and allocations, {total_large:,} invoices", "",
                  "naive query", nv, "pgbilling ar_aging", lg2, "ms", nv / lg2, "naive / pgbilling", ">= 10",
                  goal_ok=lambda r: r >= 10)
        past: dict[str, dict[str, float]] = {}
        for days in PAST_DAYS:
            ms = _median([self._time(large, "SELECT * FROM billing.ar_aging(now() - make_interval(days => %s))",
                                     [days]) for _ in range(o.rounds)])
            with psycopg.connect(large) as conn:
                later = conn.execute("SELECT count(*) FROM billing.allocation WHERE allocated_at > now() - "
                                     "make_interval(days => %s)", [days]).fetchone()[0]
            past[f"{days} days ago"] = {"ms": round(ms, 1), "allocations since": later}
            self._add(3, f"ar_aging as of {days} days ago, {total_large:,} invoices ({later:,} allocations since)",
                      "", "as of now", lg, f"{days} days ago", ms, "ms", ms / lg, "B / A", "(report)")
        self.results.details["comparison 3 (ms per round)"] = {k: [round(v, 1) for v in vs] for k, vs in times.items()}
        self.results.details["comparison 3: as of a past date"] = past
        self.step("comparison 3: reports vs history")

    def payments(self) -> None:
        o, ops = self.options, self.urls["ops"]
        clients = 2 * o.clients
        tps: dict[str, list[float]] = {"hot": [], "cold": []}
        failed = 0
        for _ in range(o.rounds):
            for group, count in (("hot", self.sizes.hot), ("cold", self.sizes.cold)):
                got = pgbench.run(ops, "pay", clients=clients, seconds=o.seconds,
                                  variables={"first_customer": self.ops.first_customer[group], "customers": count})
                tps[group].append(got.tps)
                failed += got.failed + (1 if got.aborted else 0)
        with psycopg.connect(ops) as conn:
            violations = load.check(conn)
        hot, cold = _median(tps["hot"]), _median(tps["cold"])
        self._add(4, f"Payments at {clients} clients: {self.sizes.hot} hot vs {self.sizes.cold:,} cold customers",
                  "", f"{self.sizes.cold:,} cold", cold, f"{self.sizes.hot} hot", hot, "payments/s", hot / cold,
                  "hot / cold", "(report)")
        bad = sum(violations.values())
        self._add(4, "Invariant violations after the payment runs (over-allocation, over-payment, balances)", "",
                  "expected", 0, "found", bad, "violations", bad, "found", "= 0", goal_ok=lambda r: r == 0)
        self.results.details["comparison 4"] = {"payments/s per round": tps, "failed or aborted runs": failed,
                                                "invariants (violations)": violations}
        self.step("comparison 4: concurrent payments")

    def migrations(self) -> None:
        o = self.options
        empty: list[float] = []
        for _ in range(o.rounds):
            db.recreate_database(self.urls["migrate"])
            started = time.perf_counter()
            migrate.migrate(self.urls["migrate"])
            empty.append(time.perf_counter() - started)
        found = read_migrations(str(paths.MIGRATIONS))
        newest = found[-1].id
        outside = [m.id for m in found if "-- transactional: false" in Path(m.path).read_text(encoding="utf-8")[:200]]
        large = self.urls["large"]
        detail: dict[str, object] = {"empty database (s per round)": [round(v, 2) for v in empty],
                                     "newest": newest, "non-transactional": outside}
        try:
            started = time.perf_counter()
            migrate.rollback(large)
            back = time.perf_counter() - started
            started = time.perf_counter()
            migrate.migrate(large)
            again = time.perf_counter() - started
            detail.update({"rollback (s)": round(back, 2), "migrate again (s)": round(again, 2)})
            self._add(5, f"Migrations: all onto an empty database vs the newest ({newest}) onto "
                      f"{self.large.invoices:,} invoices", "", "all, empty database", _median(empty),
                      f"{newest}, rolled back and applied again", again, "s", again / _median(empty), "B / A",
                      "(report)")
        except UserError as exc:
            detail["rollback refused"] = str(exc)
            self._add(5, "Migrations: all onto an empty database", "", "all, empty database", _median(empty),
                      f"{newest}: rollback refused", float("nan"), "s", float("nan"), "-", "(report)")
        self.results.details["comparison 5"] = detail
        self.step("comparison 5: migrations")

    def cleanup(self) -> None:
        if not self.options.keep:
            for url in self.urls.values():
                db.drop_database(url)


# Aging the naive way, straight from invoice lines, allocations, credit notes and write-offs, as a schema without
# running balances would have to: open = sum of lines - what was allocated or written off, bucketed by due date.
# It computes less than ar_aging (no open credit), which only favours it.
NAIVE_AGING = """
WITH total AS (
    SELECT l.customer_id, l.invoice_id, sum(l.amount) AS amount
    FROM billing.invoice_line AS l GROUP BY l.customer_id, l.invoice_id
), paid AS (
    SELECT a.customer_id, a.invoice_id, sum(a.amount) AS amount
    FROM billing.allocation AS a GROUP BY a.customer_id, a.invoice_id
), written AS (
    SELECT w.customer_id, w.invoice_id, sum(w.amount) AS amount
    FROM billing.write_off AS w GROUP BY w.customer_id, w.invoice_id
), open AS (
    SELECT i.customer_id, i.currency, current_date - coalesce(i.due_date, i.issued_at::date) AS days_late,
        t.amount - coalesce(p.amount, 0) - coalesce(w.amount, 0) AS amount
    FROM billing.invoice AS i
    JOIN total AS t ON t.customer_id = i.customer_id AND t.invoice_id = i.invoice_id
    LEFT JOIN paid AS p ON p.customer_id = i.customer_id AND p.invoice_id = i.invoice_id
    LEFT JOIN written AS w ON w.customer_id = i.customer_id AND w.invoice_id = i.invoice_id
    WHERE i.kind = 'invoice' AND i.status = 'issued'
)
SELECT o.customer_id, o.currency,
    sum(o.amount) FILTER (WHERE o.days_late <= 0) AS not_due,
    sum(o.amount) FILTER (WHERE o.days_late BETWEEN 1 AND 30) AS days_1_30,
    sum(o.amount) FILTER (WHERE o.days_late BETWEEN 31 AND 60) AS days_31_60,
    sum(o.amount) FILTER (WHERE o.days_late BETWEEN 61 AND 90) AS days_61_90,
    sum(o.amount) FILTER (WHERE o.days_late > 90) AS days_over_90,
    sum(o.amount) AS receivable
FROM open AS o
WHERE o.amount > 0
GROUP BY o.customer_id, o.currency
ORDER BY o.customer_id, o.currency
"""


def run(url: str, options: Options, out_dir: Path, say: Callable[[str], None]) -> tuple[Results, list[Path], str]:
    """Run every comparison; write the table (and plots when matplotlib is installed) to out_dir."""
    from pgbilling.bench import report

    bench = Bench(url, options, say)
    bench.check_server()
    try:
        bench.setup()
        bench.integrity()
        bench.allocation()
        bench.reports()
        bench.payments()
        bench.migrations()
    finally:
        bench.cleanup()
    written, plots_note = report.write(bench.results, out_dir)
    return bench.results, written, plots_note
