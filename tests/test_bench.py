"""The benchmark harness keeps working: a tiny run writes its table (a row for every comparison) and plots, its bulk
load satisfies the invariants the triggers keep, and without matplotlib the table is still written. No timings are
asserted: a benchmark is not a test (docs/benchmarks.md)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from pgbilling import cli
from pgbilling.bench import load, report
from pgbilling.bench.runner import Comparison, Options, Results, Sizes

TINY = ["--scale", "0.001", "--seconds", "1", "--rounds", "1", "--transactions", "5", "--clients", "2"]


def test_tiny_run_writes_a_row_for_every_comparison_and_the_plots(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert cli.main(["--database", db_url, "bench", *TINY, "--out", str(out)]) == 0
    table = (out / "results.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    for number, title in (
        (1, "Cost of integrity: 5-line invoice, API vs bare tables, 1 client"),
        (1, "Cost of integrity: the same invoice in 7 API calls"),
        (1, "Cost of integrity: 5-line invoice, API vs bare tables, 2 clients"),
        (1, "Gapless series: API at 2 clients vs 1 / commit latency"),
        (2, "auto_allocate p50 latency"),
        (2, "auto_allocate p95 latency"),
        (3, "ar_aging now"),
        (3, "ar_aging vs naive aging"),
        (3, "ar_aging as of 365 days ago"),
        (4, "Payments at 4 clients"),
        (4, "Invariant violations after the payment runs"),
        (5, "Migrations: all onto an empty database"),
    ):
        assert any(row.startswith(f"| {number} | {title}") for row in rows), f"no row for {title}"
    assert sum("synchronous_commit=on" in row for row in rows) == 4
    assert sum("synchronous_commit=off" in row for row in rows) == 4
    for needle in ("PostgreSQL: PostgreSQL ", "cores: ", "scale: 0.001", "date: "):
        assert needle in table
    assert "| 4 | Invariant violations after the payment runs" in table
    assert [row for row in rows if row.startswith("| 4 | Invariant")][0].endswith("| = 0 | yes |")
    for number in range(1, 6):
        assert (out / f"comparison-{number}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "results.json").is_file()
    # its own databases are gone again
    with psycopg.connect(db_url) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            [conn.info.dbname + "_bench_%"]).fetchall()
    assert left == []


def global_numbering(url: str) -> None:
    """The bulk load numbers in the global series (the benchmark's own databases keep the default)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")


def test_bulk_load_satisfies_the_invariants_the_triggers_keep(db_url: str) -> None:
    global_numbering(db_url)
    got = load.load(db_url, [load.Group("a", 3, 40, 6), load.Group("b", 2, 5, 5, fee=1000), load.Group("c", 1)])
    assert got.invoices == 3 * 40 + 2 * 5
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert load.check(conn, chain=True) == dict.fromkeys(load.check(conn, chain=True), 0)
        numbers = [r[0] for r in conn.execute(
            "SELECT substring(invoice_no FROM '[0-9]+$')::int FROM billing.invoice ORDER BY issued_at, invoice_id")]
        assert numbers == list(range(1, got.invoices + 1))
        assert conn.execute("SELECT next_no FROM billing.document_series WHERE series = 'invoice'").fetchone()[0] == (
            got.invoices + 1)
        open_count = conn.execute(
            "SELECT count(*) FROM billing.invoice_balance WHERE total - allocated - refunded > 0").fetchone()[0]
        assert open_count == 3 * 6 + 2 * 5
        # the API works on loaded data: a payment auto-allocated to a loaded open invoice
        first = got.first_customer["b"]
        payment = conn.execute("SELECT billing.record_payment(%s, 'EUR', 10.00, 'CARD')", [first]).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM billing.auto_allocate(%s, %s)", [first, payment]).fetchone()[0] == 1
        assert sum(load.check(conn, chain=True).values()) == 0


def test_check_finds_a_planted_violation(db_url: str) -> None:
    global_numbering(db_url)
    load.load(db_url, [load.Group("a", 1, 12, 3)])
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE billing.invoice_balance SET allocated = allocated + 1 WHERE invoice_id = "
                     "(SELECT min(invoice_id) FROM billing.invoice_balance WHERE total - allocated > 5)")
        found = load.check(conn)
    assert found["invoice balance allocated = sum of its allocations"] == 1
    assert sum(found.values()) == 1


def test_without_matplotlib_the_table_is_written_and_plots_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    results = Results(Options(scale=0.001), Sizes.at(0.001), datetime.now(UTC), server_version="PostgreSQL 18.6 x")
    results.comparisons.append(Comparison(1, "Cost of integrity", "synchronous_commit=on", "bare tables", 10.0,
                                          "pgbilling API", 8.0, "invoices/s", 0.8, "API / bare", ">= 0.75", True))
    written, note = report.write(results, tmp_path)
    assert "plots skipped" in note
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]
    assert "| 1 | Cost of integrity | synchronous_commit=on |" in (tmp_path / "results.md").read_text()
    assert written == [tmp_path / "results.md", tmp_path / "results.json"]
