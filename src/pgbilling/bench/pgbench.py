"""Running pgbench with a custom script and reading what it measured (throughput, per-transaction latencies)."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pgbilling import server

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass(frozen=True)
class Run:
    """One pgbench run: transactions per second and per-transaction latencies in milliseconds."""

    script: str
    clients: int
    tps: float
    transactions: int
    failed: int
    aborted: bool
    latencies_ms: tuple[float, ...]

    def percentile(self, p: float) -> float:
        """The p-th percentile (0-100) of the latencies, nearest rank."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")


def binary() -> str:
    """pgbench on the PATH, else the one shipped with the embedded server."""
    return shutil.which("pgbench") or str(server.bin_path("pgbench"))


def environment(url: str, options: dict[str, str] | None = None) -> dict[str, str]:
    """libpq environment for a URL (pgbench takes no URL of its own), plus server settings via PGOPTIONS."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    env = dict(os.environ)
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD"),
                     ("dbname", "PGDATABASE"), ("sslmode", "PGSSLMODE")):
        if info.get(key):
            env[var] = str(info[key])
    if options:
        env["PGOPTIONS"] = " ".join(f"-c {k}={v}" for k, v in options.items())
    return env


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_DONE = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


def run(
    url: str,
    script: str,
    *,
    clients: int = 1,
    seconds: float | None = None,
    transactions: int | None = None,
    variables: dict[str, object] | None = None,
    settings: dict[str, str] | None = None,
) -> Run:
    """Run scripts/<script>.sql (-M prepared, -n) for `seconds` or `transactions` per client and parse the result."""
    if (seconds is None) == (transactions is None):
        raise ValueError("give seconds or transactions")
    with tempfile.TemporaryDirectory(prefix="pgbilling-bench-") as tmp:
        args = [binary(), "-n", "-M", "prepared", "-f", str(SCRIPTS / f"{script}.sql"),
                "-c", str(clients), "-j", str(max(1, min(clients, os.cpu_count() or 1))),
                "--log", f"--log-prefix={tmp}/tx"]
        args += ["-T", str(max(1, round(seconds)))] if seconds is not None else ["-t", str(transactions)]
        for name, value in (variables or {}).items():
            args += ["-D", f"{name}={value}"]
        done = subprocess.run(args, capture_output=True, text=True, env=environment(url, settings), check=False)
        output = done.stdout + done.stderr
        tps = _TPS.search(output)
        if tps is None:
            raise RuntimeError(f"pgbench {script} failed (exit {done.returncode}):\n{output.strip()[-3000:]}")
        latencies: list[float] = []
        for log in Path(tmp).glob("tx.*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                # client_id transaction_no time script_no time_epoch time_us ...: time in microseconds, or a word
                # (failed, skipped) for a transaction that did not complete
                if len(fields) > 2 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1000)
    failed = _FAILED.search(output)
    processed = _DONE.search(output)
    return Run(script, clients, float(tps.group(1)), int(processed.group(1)) if processed else len(latencies),
               int(failed.group(1)) if failed else 0, "aborted" in output, tuple(latencies))
