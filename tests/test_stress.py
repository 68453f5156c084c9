"""Concurrency stress and crash: many connections run a random mix of the whole API (tests/stress.py) against a few
hot customers and many cold ones; afterwards every invariant holds, and no call met a deadlock or an undocumented
error. The crash test kills the server (SIGKILL) in the middle of a run, restarts it, and finds every committed call
still there. Each invariant's query is itself shown to find a violation planted behind the triggers' back.

The normal suite runs a run of 3,000 operations on 16 connections; `pytest -m slow` runs the large run and the crash
test. PGBILLING_STRESS_SEED repeats a run's choices (each run prints its seed and summary; `pytest -s` shows them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import stress
from helpers import Api
from scratch import scratch_server

SEED = int(os.environ["PGBILLING_STRESS_SEED"]) if os.environ.get("PGBILLING_STRESS_SEED") else None
WRITES = [op for op in stress.WEIGHTS if op in stress.PROOFS]


def assert_clean(summary: stress.Summary) -> None:
    assert not summary.unexpected, (
        f"seed {summary.seed}: unexpected errors (a 40P01 names the calls that deadlocked):\n"
        + json.dumps(summary.unexpected[:10], indent=1, default=str))
    assert not summary.violations, f"seed {summary.seed}: invariants broken: {summary.violations}"
    assert set(summary.invariants_checked) >= set(stress.INVARIANTS)


def test_sixteen_connections_mixing_the_whole_api_break_no_invariant_and_meet_no_deadlock(
    db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "committed.jsonl"
    summary, _ = stress.run(db_url, connections=16, operations=3000, seconds=900, log=log, seed=SEED, hot=3, cold=40)
    assert_clean(summary)
    assert sum(summary.attempted.values()) == 3000, "the run ended on its time bound before its operations"
    never = [op for op in stress.WEIGHTS if not summary.committed[op]]
    assert not never, f"seed {summary.seed}: the mix never completed {never}: it proves nothing about them"
    # the log holds every committed write, and each is found with its content
    checked, missing = stress.verify_log(db_url, log)
    assert checked == sum(summary.committed[op] for op in WRITES) and not missing


def test_driver_runs_from_the_command_line_and_fails_on_what_it_finds(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "cli.jsonl"
    driver = [sys.executable, str(Path(__file__).with_name("stress.py"))]
    command = [*driver, "--url", db_url, "--connections", "16", "--seconds", "60", "--seed", str(SEED or 7)]
    done = subprocess.run([*command, "--operations", "300", "--log", str(log)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["attempted"] == 300 and summary["committed"] > 0 and not summary["violations"]
    assert stress.verify_log(db_url, log)[1] == [] and log.read_text().count("\n") > 0
    # a broken invariant makes it exit 1
    with psycopg.connect(db_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE billing.payment_balance SET amount = amount + 1")
    again = subprocess.run([*command, "--operations", "20"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "payment_balance_matches_history" in again.stdout
    # and it refuses a server that is not on this machine
    refused = subprocess.run([*driver, "--url", "postgresql://u@192.0.2.1/x"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "this machine" in refused.stderr


# -- every invariant's query finds a violation planted behind the triggers' back --------------------------------------

@pytest.fixture
def books(db: psycopg.Connection, api: Api) -> dict[str, int]:
    """A consistent little history: an order billed in part with its charge, a credit note by quantity, a payment
    allocated and partly refunded, an invoice by hand."""
    api.create_product("ST-1", "Widget")
    c = api.create_customer("Planted")
    order = api.place_order(c, "EUR", [{"sku": "ST-1", "quantity": 5, "unit_price": 10},
                                       {"sku": "ST-1", "quantity": 3, "unit_price": 20}])
    api.add_order_charge(c, order, "SHIPPING", Decimal("5.00"))
    billed = api.bill_order(c, order, {"1": 2})
    note = api.issue_credit_note(c, billed, [{"line_no": 1, "quantity": 1}], "returned")
    payment = api.record_payment(c, "EUR", Decimal("100.00"), "CARD")
    api.allocate_payment(c, payment, billed)
    api.refund(c, "EUR", Decimal("5.00"), "BANK_TRANSFER", "overpaid", payment)
    by_hand = api.create_invoice(c, "EUR")
    api.add_fee_line(c, by_hand, "ADMIN", Decimal("30.00"))
    api.issue_invoice(c, by_hand)
    return {"c": c, "order": order, "billed": billed, "note": note, "payment": payment, "by_hand": by_hand}


PLANTS = {
    "payment_not_over_allocated": "UPDATE billing.allocation SET amount = amount + 1000 WHERE payment_id = %(payment)s",
    "credit_note_not_over_applied":
        "UPDATE billing.allocation SET amount = amount + 1000 WHERE credit_note_id = %(note)s",
    "invoice_not_over_paid": "INSERT INTO billing.write_off (customer_id, currency, invoice_id, amount)"
                             " SELECT customer_id, currency, invoice_id, total + 1 FROM billing.invoice"
                             " WHERE invoice_id = %(by_hand)s",
    "order_line_not_over_billed": "UPDATE billing.invoice_line SET quantity = quantity + 100"
                                  " WHERE invoice_id = %(billed)s AND line_type = 'product'",
    "order_charge_not_over_billed": "UPDATE billing.invoice_line SET amount = amount + 100"
                                    " WHERE invoice_id = %(billed)s AND line_type = 'fee'",
    "invoice_not_over_credited": "UPDATE billing.credit_note_line SET quantity = quantity + 100"
                                 " WHERE credit_note_id = %(note)s",
    "numbers_gapless_per_series": "UPDATE billing.invoice SET invoice_no = regexp_replace(invoice_no, '[0-9]+$', '000099')"
                                  " WHERE invoice_id = %(by_hand)s",
    "invoice_balance_matches_history": "UPDATE billing.invoice_balance SET total = total + 1"
                                       " WHERE invoice_id = %(by_hand)s",
    "payment_balance_matches_history": "UPDATE billing.payment_balance SET amount = amount + 1"
                                       " WHERE payment_id = %(payment)s",
    "order_line_billed_matches_history": "UPDATE billing.order_line SET billed_quantity = billed_quantity + 1"
                                         " WHERE order_id = %(order)s AND line_no = 1",
    "order_charge_billed_matches_history": "UPDATE billing.order_charge SET billed_amount = billed_amount - 1"
                                           " WHERE order_id = %(order)s",
    "canceled_invoice_nothing_open": "INSERT INTO billing.invoice_cancellation (customer_id, invoice_id, canceled_time,"
                                     " cancel_reason, credit_note_id) VALUES (%(c)s, %(by_hand)s, now(), 'planted', %(note)s)",
    # the credit note's credit freed for the customer without cash behind it
    "open_credit_within_cash_received": "UPDATE billing.invoice SET total = total + 100 WHERE invoice_id = %(note)s",
    # a tax line slipped into the billed invoice: the credit note took back a unit of its base but none of it
    "tax_credited_with_its_base": "INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, amount)"
                                  " VALUES (%(c)s, %(billed)s, 10, 'tax', 5.70)",
    "refund_equals_its_parts": "UPDATE billing.refund SET amount = amount + 1 WHERE customer_id = %(c)s",
    # a recorded payment changed behind the triggers' back: its link no longer matches its content
    "verify_chain": "UPDATE billing.payment SET amount = amount + 1 WHERE payment_id = %(payment)s",
}


def test_every_invariant_has_a_planted_violation() -> None:
    assert set(PLANTS) == set(stress.INVARIANTS)


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_invariant_query_finds_a_planted_violation(db: psycopg.Connection, books: dict[str, int], name: str) -> None:
    query = stress.INVARIANTS[name]
    assert not any(stress.check_invariants(db).values()), "the books start consistent"
    db.autocommit = False
    try:
        db.execute("SET LOCAL session_replication_role = replica")  # the rules' triggers stand aside
        db.execute(PLANTS[name], books)
        assert db.execute(query).fetchall(), f"{name} did not see the violation planted"
    finally:
        db.rollback()


def test_log_check_reports_a_logged_call_that_is_not_in_the_database(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "forged.jsonl"
    log.write_text(json.dumps({"op": "record_payment", "customer": 1, "id": 999999, "amount": "1.00"}) + "\n")
    assert stress.verify_log(db_url, log) == (1, [stress.read_log(log)[0]])


# -- slow: the large run, and the crash ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_large_run_thirty_two_connections_twenty_thousand_operations(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "committed.jsonl"
    summary, _ = stress.run(db_url, connections=32, operations=20000, seconds=600, log=log, seed=SEED, hot=4,
                            cold=300)
    assert_clean(summary)
    assert not stress.verify_log(db_url, log)[1]


def run_until_killed(scratch, log: Path, seed: int, state: stress.State | None,  # noqa: ANN001 (scratch.Scratch)
                     kill_after: int) -> tuple[int, stress.Summary, stress.State]:
    """Run the driver until kill_after calls have committed, then SIGKILL the server; returns the postmaster's pid
    and the run's summary and state, once every worker has stopped."""
    reached, result = threading.Event(), {}

    def on_commit(done: int) -> None:
        if done >= kill_after:
            reached.set()

    def drive() -> None:
        result["run"] = stress.run(scratch.url, connections=16, operations=5000, seconds=300, log=log, seed=seed,
                                   expect_crash=True, on_commit=on_commit, state=state, check=False)

    driver = threading.Thread(target=drive)
    driver.start()
    assert reached.wait(300), "the run never committed enough calls to be killed in the middle"
    postmaster = scratch.crash()
    driver.join(300)
    assert not driver.is_alive(), "the driver did not stop after the server died"
    return postmaster, *result["run"]


@pytest.mark.slow
def test_server_killed_mid_run_keeps_every_committed_call_and_every_invariant(tmp_path: Path) -> None:
    log = tmp_path / "committed.jsonl"
    state, crashes, kill_after, logged = None, 3, 400, 0
    seed = SEED if SEED is not None else int.from_bytes(os.urandom(3), "big")
    with scratch_server() as scratch:
        for cycle in range(crashes):
            postmaster, summary, state = run_until_killed(scratch, log, seed + cycle, state, kill_after)
            assert not summary.unexpected, json.dumps(summary.unexpected[:10], indent=1, default=str)
            assert summary.interrupted > 0, "no call was running when the server was killed"
            logged += sum(summary.committed[op] for op in WRITES)
            scratch.restart()
            checked, missing = stress.verify_log(scratch.url, log)
            print(f"crash {cycle + 1}: postmaster {postmaster} killed after {sum(summary.committed.values())} "
                  f"committed calls ({summary.interrupted} in flight); after restart {checked} logged calls checked, "
                  f"{len(missing)} missing")
            assert checked == logged and not missing, f"committed calls lost in the crash: {missing[:10]}"
            violations = {k: v for k, v in stress.check_invariants(scratch.url).items() if v}
            assert not violations, f"invariants broken after crash {cycle + 1}: {violations}"
        # and the restarted server takes a full run again
        summary, _ = stress.run(scratch.url, connections=16, operations=1000, seconds=300, log=log,
                                seed=seed + crashes, state=state)
        assert_clean(summary)
        assert not stress.verify_log(scratch.url, log)[1]
