"""The benchmark's output: results.md (the table and the details), results.json, and PNG plots when matplotlib (the
`bench` extra) is installed."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from pgbilling.bench.runner import Comparison, Results


def _num(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def _met(c: Comparison) -> str:
    return {True: "yes", False: "**no**", None: ""}[c.met]


def markdown(r: Results) -> str:
    o = r.options
    lines = [
        "# pgbilling benchmark results",
        "",
        f"- date: {r.started:%Y-%m-%d %H:%M} UTC",
        f"- PostgreSQL: {r.server_version}",
        f"- cores: {r.cores}",
        f"- scale: {o.scale} (comparison 3: {r.sizes.aging_customers:,} customers x {r.sizes.large_per_customer:,} "
        f"vs {r.sizes.small_per_customer:,} invoices, {r.sizes.open_per_customer} open each)",
        f"- clients: {o.clients} (comparison 1), {2 * o.clients} (comparison 4)",
        f"- runs: {o.rounds} rounds alternating A and B; {o.seconds:g} s per throughput run, "
        f"{o.transactions} transactions per latency run",
        "- settings: synchronous_commit as the table says (comparison 1 runs under on and off); the server's own "
        "otherwise",
        "",
        "| # | comparison | setting | A | B | ratio | goal | met |",
        "| - | - | - | - | - | - | - | - |",
    ]
    for c in r.comparisons:
        lines.append(
            f"| {c.number} | {c.title} | {c.setting} | {c.a_label}: {_num(c.a_value)} {c.unit} | "
            f"{c.b_label}: {_num(c.b_value)} {c.unit} | {c.ratio_label} = {_num(c.ratio)} | {c.goal} | {_met(c)} |"
        )
    lines += ["", "Figures are medians over the rounds (latencies: percentiles over every transaction of every "
              "round). No goal is a test: a **no** is a finding to look into, not a failure.", "",
              "## Time taken", ""]
    lines += [f"- {name}: {secs:.1f} s" for name, secs in r.seconds.items()]
    lines += ["", "## Details", ""]
    for name, value in r.details.items():
        lines.append(f"### {name}")
        lines.append("")
        if isinstance(value, str):
            lines += ["```", value, "```"]
        else:
            lines += ["```json", json.dumps(value, indent=2, default=str), "```"]
        lines.append("")
    return "\n".join(lines)


def plots(r: Results, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    by_number: dict[int, list[Comparison]] = {}
    for c in r.comparisons:
        by_number.setdefault(c.number, []).append(c)
    titles = {1: "Cost of integrity (invoices/s)", 2: "auto_allocate latency (ms)", 3: "ar_aging (ms)",
              4: "Concurrent payments (payments/s)", 5: "Migrations (s)"}
    for number, rows in sorted(by_number.items()):
        rows = [c for c in rows if not (isinstance(c.b_value, float) and math.isnan(c.b_value))]
        if number == 4:
            rows = rows[:1]  # the invariant count is not a quantity to plot
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(10, 0.9 + 0.8 * len(rows)))
        labels = [f"{c.title}\n{c.setting}".strip() for c in rows]
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], [c.a_value for c in rows], height=0.4, label="A", color="#8899aa")
        ax.barh([i - 0.2 for i in y], [c.b_value for c in rows], height=0.4, label="B", color="#336699")
        for i, c in enumerate(rows):
            ax.text(c.a_value, i + 0.2, f" {c.a_label}: {_num(c.a_value)}", va="center", fontsize=7)
            ax.text(c.b_value, i - 0.2, f" {c.b_label}: {_num(c.b_value)} ({c.ratio_label} {_num(c.ratio)})",
                    va="center", fontsize=7)
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.invert_yaxis()
        if number in (2, 3, 5):
            ax.set_xscale("log")
        ax.set_title(f"{number}. {titles.get(number, '')}  (PostgreSQL {r.server_version.split()[1]}, "
                     f"{r.cores} cores, scale {r.options.scale})", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = out / f"comparison-{number}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(r: Results, out: Path) -> tuple[list[Path], str]:
    """Write results.md, results.json and the plots; returns the files and a note on the plots."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.md", out / "results.json"]
    written[0].write_text(markdown(r) + "\n", encoding="utf-8")
    data = asdict(r)
    data["started"] = r.started.isoformat()
    written[1].write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return written, "plots skipped: matplotlib is not installed (pip install 'pgbilling[bench]')"
    pngs = plots(r, out)
    return written + pngs, f"{len(pngs)} plots written"
