"""Verifying: billing.verify_balances recomputes every running total from the history it summarizes and checks the
money invariants; `pgbilling verify` runs it with verify_chain; `pgbilling rollback` never drops data silently."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from helpers import D, Api, behind_the_triggers, snapshot

from pgbilling import migrate, paths
from pgbilling.errors import UserError

Finding = tuple[str, str, dict[str, Any], Decimal | None, Decimal | None, str]


def findings(db: psycopg.Connection) -> list[Finding]:
    return db.execute("SELECT * FROM billing.verify_balances()").fetchall()


def of(rows: list[Finding], check_name: str) -> list[Finding]:
    return [r for r in rows if r[0] == check_name]


def with_triggers_off(db: psycopg.Connection, table: str, statement: str, params: object = None) -> None:
    """What the owner or a superuser can do: write a table with pgbilling's triggers off (constraints still hold)."""
    db.execute(f"ALTER TABLE billing.{table} DISABLE TRIGGER USER")
    try:
        db.execute(statement, params)
    finally:
        db.execute(f"ALTER TABLE billing.{table} ENABLE TRIGGER USER")


def issued(api: Api, c: int, amount: Decimal | int, fee: str = "ADMIN") -> int:
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, fee, amount)
    api.issue_invoice(c, inv)
    return inv


def build_history(api: Api, c: int, other: int, bounce_after_refund: bool = True) -> dict[str, int]:
    """Orders billed in parts, charges, credit notes by quantity and by amount, tax, payments, allocations and their
    reversals, auto-allocation, payment for several invoices, write-offs, refunds, voids, canceled payments (one
    after a refund out of it, which bills the refund back) and a canceled order; products A-1 and B-2 exist."""
    ids: dict[str, int] = {}
    order = ids["order"] = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 4, "unit_price": 25},
                                                      {"sku": "B-2", "quantity": 2, "unit_price": 9.99}])
    api.add_order_charge(c, order, "SHIPPING", 10, "courier")
    inv1 = ids["inv1"] = api.bill_order(c, order, {"1": 3})
    ids["cn_quantity"] = api.issue_credit_note(c, inv1, [{"line_no": 1, "quantity": 1}], "returned")
    p1 = ids["p1"] = api.record_payment(c, "EUR", 100, "CARD")
    api.allocate_payment(c, p1, inv1)
    ids["cn_amount"] = api.issue_credit_note(c, inv1, [{"line_no": 2, "amount": 4}], "shipping discount")
    ids["inv2"] = api.bill_order(c, order)
    inv3 = ids["inv3"] = api.issue_new_invoice(c, "EUR", [
        {"type": "fee", "fee_code": "LICENCE", "amount": 200},
        {"type": "discount", "amount": 15, "description": "loyalty"},
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19}])
    api.conn.execute("SELECT * FROM billing.auto_allocate(%s, %s, 'oldest')", [c, p1]).fetchall()
    p2 = ids["p2"] = api.record_payment(c, "EUR", 400, "BANK_TRANSFER")
    api.allocate_payment(c, p2, inv3)
    wrong = api.allocate_payment(c, p2, ids["inv2"], 10)
    api.unallocate(c, wrong, "wrong invoice")
    api.write_off(c, ids["inv2"], 1)
    inv4 = ids["inv4"] = issued(api, c, 30)
    api.write_off(c, inv4, 10)
    api.allocate_payment(c, p2, inv4, 5)
    api.void_invoice(c, inv4, "wrong customer")
    ids["refund"] = api.refund(c, "EUR", 20, "BANK_TRANSFER", "overpaid")
    p3 = ids["p3"] = api.record_payment(c, "EUR", 50, "CARD")
    api.allocate_payment(c, p3, ids["inv2"], 10)
    api.cancel_payment(c, p3, "bounced")
    p4 = ids["p4"] = api.record_payment(c, "EUR", 15, "CASH")
    api.refund(c, "EUR", 5, "CASH", "change", p4)
    if bounce_after_refund:
        p5 = api.record_payment(c, "EUR", 60, "CARD")
        api.refund(c, "EUR", 25, "CARD", "overpaid", p5)
        api.cancel_payment(c, p5, "charged back")
    order2 = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 40}])
    inv5 = api.bill_order(c, order2)
    api.allocate_payment(c, api.record_payment(c, "EUR", 40, "CARD"), inv5)
    api.cancel_order(c, order2, "customer withdrew")
    ids["inv6"] = issued(api, other, 70, "LICENCE")
    ids["paid_both"] = api.conn.execute("SELECT billing.pay_invoices(%s, 'EUR', 100, 'CARD', %s::bigint[])",
                                        [other, [ids["inv6"], issued(api, other, 20)]]).fetchone()[0]
    ids["open"] = issued(api, other, 80)  # open, nothing paid
    return ids


@pytest.fixture
def history(db: psycopg.Connection, api: Api, shop: dict[str, int]) -> dict[str, int]:
    return build_history(api, shop["customer"], shop["other"])


def test_verify_balances_finds_nothing_after_a_realistic_history(db, api, shop, history) -> None:
    db.execute((paths.SEEDS / "demo.sql").read_text(encoding="utf-8"))
    counts = dict(db.execute(
        """
        SELECT 'reversed allocations', count(*) FROM billing.allocation WHERE reverses_allocation_id IS NOT NULL
        UNION ALL SELECT 'credit note allocations', count(*) FROM billing.allocation WHERE credit_note_id IS NOT NULL
        UNION ALL SELECT 'reversed write-offs', count(*) FROM billing.write_off WHERE reverses_write_off_id IS NOT NULL
        UNION ALL SELECT 'write-offs', count(*) FROM billing.write_off WHERE reverses_write_off_id IS NULL
        UNION ALL SELECT 'payment refunds', count(*) FROM billing.refund_part WHERE payment_id IS NOT NULL
        UNION ALL SELECT 'voided', count(*) FROM billing.payment_balance WHERE voided > 0
        UNION ALL SELECT 'canceled invoices', count(*) FROM billing.invoice_cancellation
        UNION ALL SELECT 'quantity credits', count(*) FROM billing.credit_note_line WHERE quantity IS NOT NULL
        UNION ALL SELECT 'charge credits', count(*) FROM billing.credit_note_line AS c JOIN billing.invoice_fee_line AS f
            ON f.customer_id = c.customer_id AND f.invoice_id = c.credited_invoice_id AND f.line_no = c.credited_line_no
            AND f.order_charge_no IS NOT NULL
        UNION ALL SELECT 'tax lines', count(*) FROM billing.invoice_tax_line
        UNION ALL SELECT 'refunds billed back', count(*) FROM billing.invoice_fee_line WHERE fee_code = 'RETURNED_PAYMENT'
        UNION ALL SELECT 'partly billed lines', count(*) FROM billing.order_line WHERE billed_quantity BETWEEN 1 AND quantity - 1
        """).fetchall())
    assert all(counts.values()), f"the history misses a kind of entry, so the comparison proves less: {counts}"
    assert findings(db) == []
    assert db.execute("SELECT billing.rebuild_balances()").fetchone() == (0,)  # every history table is there


BALANCE_TAMPERING = {
    # (table, column): (the row's key, which row of the history, the change)
    ("invoice_balance", "total"): ("invoice_id", "inv1", 1),
    ("invoice_balance", "credited"): ("invoice_id", "inv1", -1),
    ("invoice_balance", "allocated"): ("invoice_id", "inv3", -1),
    ("invoice_balance", "refunded"): ("invoice_id", "open", 1),
    ("payment_balance", "amount"): ("payment_id", "p2", 1),
    ("payment_balance", "allocated"): ("payment_id", "p1", -1),
    ("payment_balance", "refunded"): ("payment_id", "p4", -1),
    ("payment_balance", "voided"): ("payment_id", "p3", -1),
}


@pytest.mark.parametrize(("table", "column"), list(BALANCE_TAMPERING))
def test_a_balance_changed_behind_the_triggers_is_named_with_both_values(db, shop, history, table, column) -> None:
    key, name, change = BALANCE_TAMPERING[(table, column)]
    customer = shop["other"] if name == "open" else shop["customer"]
    where = f"customer_id = %s AND {key} = %s"
    before = db.execute(f"SELECT {column} FROM billing.{table} WHERE {where}", [customer, history[name]]).fetchone()[0]
    with_triggers_off(db, table, f"UPDATE billing.{table} SET {column} = {column} + %s WHERE {where}",
                      [change, customer, history[name]])
    [(check_name, table_name, keys, stored, computed, detail)] = findings(db)
    assert (check_name, table_name, keys, stored, computed) == (
        "total_differs", table, {"customer_id": customer, key: history[name]}, before + change, before)
    assert detail.startswith(f"{column} of ")


def test_billed_quantities_and_amounts_changed_behind_the_triggers_are_named(db, shop, history) -> None:
    c, order = shop["customer"], history["order"]
    quantity, amount = db.execute(
        "SELECT l.billed_quantity, ch.billed_amount FROM billing.order_line AS l JOIN billing.order_charge AS ch"
        " USING (customer_id, order_id) WHERE l.customer_id = %s AND l.order_id = %s AND l.line_no = 1", [c, order]).fetchone()
    behind_the_triggers(db, "UPDATE billing.order_line SET billed_quantity = billed_quantity - 1"
                            " WHERE customer_id = %s AND order_id = %s AND line_no = 1", [c, order])
    behind_the_triggers(db, "UPDATE billing.order_charge SET billed_amount = billed_amount - 1"
                            " WHERE customer_id = %s AND order_id = %s", [c, order])
    assert [r[:5] for r in findings(db)] == [
        ("total_differs", "order_charge", {"customer_id": c, "order_id": order, "charge_no": 1}, amount - 1, amount),
        ("total_differs", "order_line", {"customer_id": c, "order_id": order, "line_no": 1}, quantity - 1, quantity),
    ]


def test_an_invoice_total_changed_behind_the_triggers_is_named(db, shop, history) -> None:
    c, inv = shop["customer"], history["inv3"]
    total = db.execute("SELECT total FROM billing.invoice WHERE customer_id = %s AND invoice_id = %s", [c, inv]).fetchone()[0]
    behind_the_triggers(db, "UPDATE billing.invoice SET total = total + 1 WHERE customer_id = %s AND invoice_id = %s", [c, inv])
    keys = {"customer_id": c, "invoice_id": inv}
    assert [r[:5] for r in findings(db)] == [  # the sum of its lines, and the balance row copied from it
        ("total_differs", "invoice", keys, total + 1, total),
        ("total_differs", "invoice_balance", keys, total, total + 1),
    ]


def test_allocations_deleted_with_their_links_are_found_though_the_chains_verify(db, shop, history) -> None:
    c, p1 = shop["customer"], history["p1"]
    applied = dict(db.execute("SELECT invoice_id, sum(amount) FROM billing.allocation WHERE customer_id = %s"
                              " AND payment_id = %s GROUP BY invoice_id", [c, p1]).fetchall())
    paid = db.execute("SELECT allocated FROM billing.payment_balance WHERE customer_id = %s AND payment_id = %s",
                      [c, p1]).fetchone()[0]
    assert paid == sum(applied.values()) > 0, applied
    invoices = dict(db.execute("SELECT invoice_id, allocated FROM billing.invoice_balance WHERE customer_id = %s"
                               " AND invoice_id = ANY (%s)", [c, list(applied)]).fetchall())
    chain = f"allocations from payment {p1}"
    # the whole chain goes: its links, its head and its entries; what is left verifies
    behind_the_triggers(db, "DELETE FROM billing.chain_link WHERE customer_id = %s AND chain = %s", [c, chain])
    behind_the_triggers(db, "DELETE FROM billing.chain_head WHERE customer_id = %s AND chain = %s", [c, chain])
    behind_the_triggers(db, "DELETE FROM billing.allocation WHERE customer_id = %s AND payment_id = %s", [c, p1])
    assert db.execute("SELECT * FROM billing.verify_chain()").fetchall() == []
    expected = [("total_differs", "invoice_balance", {"customer_id": c, "invoice_id": i}, invoices[i], invoices[i] - a)
                for i, a in sorted(applied.items()) if a] + [
        ("total_differs", "payment_balance", {"customer_id": c, "payment_id": p1}, paid, 0)]
    rows = findings(db)
    assert [r[:5] for r in rows] == expected
    assert all(r[5].startswith("allocated of ") for r in rows)


def test_a_missing_or_orphaned_balance_row_is_named(db, api, shop, history) -> None:
    c, other = shop["customer"], shop["other"]
    total = db.execute("SELECT total FROM billing.invoice WHERE customer_id = %s AND invoice_id = %s",
                       [other, history["open"]]).fetchone()[0]
    behind_the_triggers(db, "DELETE FROM billing.invoice_balance WHERE customer_id = %s AND invoice_id = %s",
                        [other, history["open"]])
    behind_the_triggers(db, "DELETE FROM billing.payment_balance WHERE customer_id = %s AND payment_id = %s",
                        [c, history["p4"]])
    draft = api.create_invoice(c, "EUR")
    behind_the_triggers(db, "INSERT INTO billing.invoice_balance (customer_id, invoice_id, total) VALUES (%s, %s, 7)",
                        [c, draft])
    assert [r[:5] for r in findings(db)] == [
        ("balance_row_missing", "invoice_balance", {"customer_id": other, "invoice_id": history["open"]}, None, total),
        ("balance_row_missing", "payment_balance", {"customer_id": c, "payment_id": history["p4"]}, None, 15),
        ("balance_row_orphaned", "invoice_balance", {"customer_id": c, "invoice_id": draft}, 7, None),
    ]


def test_a_canceled_invoice_with_an_open_amount_is_named(db, shop, history) -> None:
    other, inv = shop["other"], history["open"]
    behind_the_triggers(db, "INSERT INTO billing.invoice_cancellation (customer_id, invoice_id, canceled_time,"
                            " cancel_reason, credit_note_id) VALUES (%s, %s, now(), 'by hand', %s)",
                        [other, inv, history["cn_amount"]])
    assert [r[:5] for r in findings(db)] == [
        ("canceled_invoice_open", "invoice_cancellation", {"customer_id": other, "invoice_id": inv}, 80, 0)]


def test_more_allocated_than_an_invoice_holds_or_a_payment_has_is_a_negative_open_amount(db, shop, history) -> None:
    other, inv = shop["other"], history["inv6"]
    assert db.execute("SELECT total - allocated FROM billing.invoice_balance WHERE customer_id = %s AND invoice_id = %s",
                      [other, inv]).fetchone() == (0,)
    paid = history["paid_both"]  # 100 for 70 + 20: 10 left
    behind_the_triggers(db, "INSERT INTO billing.allocation (customer_id, currency, invoice_id, payment_id, amount)"
                            " VALUES (%s, 'EUR', %s, %s, 15)", [other, inv, paid])
    rows = findings(db)
    assert [r[:5] for r in of(rows, "negative_open")] == [
        ("negative_open", "invoice_balance", {"customer_id": other, "invoice_id": inv}, -15, 0),
        ("negative_open", "payment_balance", {"customer_id": other, "payment_id": paid}, -5, 0),
    ]
    assert {(r[1], r[3], r[4]) for r in of(rows, "total_differs")} == {("invoice_balance", 70, 85), ("payment_balance", 90, 105)}


def test_open_credit_beyond_the_cash_received_is_named(db, shop, history) -> None:
    other = shop["other"]
    assert db.execute("SELECT sum(amount - allocated - refunded - voided) FROM billing.payment_balance"
                      " WHERE customer_id = %s", [other]).fetchone() == (10,)
    # a refund paid out of no credit: cash went, the open credit stayed
    behind_the_triggers(db, "INSERT INTO billing.refund (customer_id, currency, amount, method_id)"
                            " VALUES (%s, 'EUR', 95, 1)", [other])
    [(check_name, table_name, keys, stored, computed, detail)] = findings(db)
    assert (check_name, table_name, keys, stored, computed) == (
        "open_credit_exceeds_cash", "customer", {"customer_id": other, "currency": "EUR"}, 10, 5)
    assert f"customer {other}" in detail


def test_a_tax_line_off_by_a_minor_unit_is_named(db, shop, history) -> None:
    c, inv = shop["customer"], history["inv3"]
    line_no, amount = db.execute("SELECT l.line_no, l.amount FROM billing.invoice_line AS l JOIN billing.invoice_tax_line"
                                 " AS t USING (customer_id, invoice_id, line_no) WHERE l.customer_id = %s"
                                 " AND l.invoice_id = %s", [c, inv]).fetchone()
    assert amount == D("35.15")  # (200 - 15) x 0.19
    tax_line = "UPDATE billing.invoice_line SET amount = %s WHERE customer_id = %s AND invoice_id = %s AND line_no = %s"
    assert of(findings(db), "tax_rate") == []
    behind_the_triggers(db, tax_line, [amount - D("0.01"), c, inv, line_no])
    [(check_name, table_name, keys, stored, computed, detail)] = of(findings(db), "tax_rate")
    assert (check_name, table_name, keys, stored, computed) == (
        "tax_rate", "invoice_tax_line", {"customer_id": c, "invoice_id": inv, "line_no": line_no}, D("35.14"), D("35.15"))
    assert "185 x 0.19" in detail


def test_billing_reader_runs_verify_balances_and_reads_no_table(db, shop, history) -> None:
    with_triggers_off(db, "payment_balance", "UPDATE billing.payment_balance SET amount = amount + 1"
                                             " WHERE customer_id = %s AND payment_id = %s", [shop["customer"], history["p2"]])
    db.execute("SET ROLE billing_reader")
    try:
        assert [r[:2] for r in findings(db)] == [("total_differs", "payment_balance")]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("SELECT * FROM billing.payment_balance")
    finally:
        db.execute("RESET ROLE")


# pgbilling verify


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "pgbilling.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_verify_command_exits_0_and_says_so_when_everything_verifies(db, db_url, history) -> None:
    done = cli("--database", db_url, "verify")
    assert done.returncode == 0, done.stderr
    assert "verified at" in done.stdout and done.stderr == ""


def test_verify_command_prints_what_it_finds_and_exits_1(db, db_url, shop, history) -> None:
    with_triggers_off(db, "invoice_balance", "UPDATE billing.invoice_balance SET credited = credited - 1"
                                             " WHERE customer_id = %s AND invoice_id = %s", [shop["customer"], history["inv1"]])
    done = cli("--database", db_url, "verify")
    assert done.returncode == 1
    assert "billing.verify_balances()" in done.stdout and "billing.verify_chain()" not in done.stdout
    assert "total_differs" in done.stdout and "invoice_balance" in done.stdout
    assert "1 finding at" in done.stderr and "Traceback" not in done.stderr


def test_verify_command_prints_a_broken_chain_too(db, db_url, shop, history) -> None:
    behind_the_triggers(db, "UPDATE billing.payment SET amount = amount + 1 WHERE customer_id = %s AND payment_id = %s",
                        [shop["customer"], history["p2"]])
    done = cli("--database", db_url, "verify")
    assert done.returncode == 1
    assert "billing.verify_chain()" in done.stdout and "payments" in done.stdout
    assert "billing.verify_balances()" in done.stdout and "payment_balance" in done.stdout  # its amount differs now
    assert "2 findings at" in done.stderr


def test_verify_command_on_a_database_without_pgbilling_says_what_to_do(empty_url) -> None:
    done = cli("--database", empty_url, "verify")
    assert done.returncode == 1
    assert "pgbilling migrate" in done.stderr and "Traceback" not in done.stderr


# pgbilling rollback: never loses data silently

def state(url: str) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """The migration status and every row of schema billing."""
    with psycopg.connect(url) as conn:
        return [(s.id, s.state) for s in migrate.status(url)], snapshot(conn)


@pytest.fixture
def used(db: psycopg.Connection, db_url: str, shop: dict[str, int]) -> dict[str, int]:
    """A database in use, numbered globally (0014's rollback refuses per-customer series), without a bounce after a
    refund (0019's rollback refuses while an invoice bills the fee for it)."""
    db.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
    return build_history(Api(db), shop["customer"], shop["other"], bounce_after_refund=False)


def counts(db: psycopg.Connection, *tables: str) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM billing.{t}").fetchone()[0] for t in tables}


def test_rollback_that_would_drop_rows_is_refused_naming_tables_and_counts_and_changes_nothing(db, db_url, used) -> None:
    rows = counts(db, "refund", "refund_part", "write_off", "chain_link", "payment_cancellation")
    assert all(rows.values()), rows
    before = state(db_url)
    done = cli("--database", db_url, "rollback", "--to", "0009")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    for table in ("refund", "refund_part", "write_off", "chain_link"):
        assert f"billing.{table} ({rows[table]} rows)" in done.stderr
    assert f"column billing.payment_cancellation.recorded_at ({rows['payment_cancellation']} non-null values)" in done.stderr
    assert "0010_refunds_and_write_offs drops billing.refund" in done.stderr and "--drop-data" in done.stderr
    assert "0008" not in done.stderr  # not rolled back
    assert state(db_url) == before


def test_rollback_of_the_last_migration_needs_no_flag_when_it_drops_no_rows(db, db_url, api, shop) -> None:
    c = shop["customer"]  # a database in use, but nothing in what the newest migration adds (no payment returned)
    api.allocate_payment(c, api.record_payment(c, "EUR", 30, "CARD"), issued(api, c, 20))
    api.refund(c, "EUR", 10, "CARD")
    newest = max(s.id for s in migrate.status(db_url) if s.state == "applied")
    done = cli("--database", db_url, "rollback")
    assert done.returncode == 0, done.stderr
    assert f"rolled back {newest}" in done.stdout and "dropping" not in done.stdout


def test_rollback_of_an_empty_database_needs_no_flag(db_url) -> None:
    with psycopg.connect(db_url) as conn:  # reference data only, as migrations put it there
        conn.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
    done = cli("--database", db_url, "rollback", "--to", "0000")
    assert done.returncode == 0, done.stderr
    assert "rolled back 0001_billing_schema" in done.stdout and "dropping" not in done.stdout


def test_reference_data_added_after_migrating_is_data(db_url) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
        conn.execute("INSERT INTO billing.currency (code, name, minor_units) VALUES ('XAU', 'Gold (troy ounce)', 2)")
        currencies = conn.execute("SELECT count(*) FROM billing.currency").fetchone()[0]
    before = state(db_url)
    with pytest.raises(UserError, match=re.escape(f"0002_reference_data drops billing.currency ({currencies} rows)")):
        migrate.rollback(db_url, to="0000")
    assert state(db_url) == before


def test_a_refusal_by_a_later_step_is_found_before_the_first_step_runs(db, db_url, shop) -> None:
    db.execute("UPDATE billing.document_series SET scope = 'per_customer' WHERE scope <> 'per_customer'")
    issued(Api(db), shop["customer"], 10)
    before = state(db_url)
    for flag in ([], ["--drop-data"]):  # no flag rolls back a database numbered per customer
        done = cli("--database", db_url, "rollback", "--to", "0013", *flag)
        assert done.returncode == 1
        assert "rolling back 0014_customer_number_series would fail: [55000]" in done.stderr, done.stderr
        assert "nothing was rolled back" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert state(db_url) == before  # 0017, 0016 and 0015 were not rolled back either


def verify_all(url: str) -> tuple[list[Finding], list[tuple]]:
    with psycopg.connect(url) as conn:
        return findings(conn), conn.execute("SELECT * FROM billing.verify_chain()").fetchall()


@pytest.mark.parametrize("to", ["0009", "0003"])
def test_drop_data_rolls_back_and_after_migrate_every_total_agrees_with_the_history_left(db, db_url, used, to) -> None:
    assert verify_all(db_url) == ([], [])
    done = cli("--database", db_url, "rollback", "--to", to, "--drop-data")
    assert done.returncode == 0, done.stderr
    assert "dropping billing.refund (" in done.stdout and f"rolled back {int(to) + 1:04d}_" in done.stdout
    changed = re.search(r"recomputed (\d+) running totals? from the history left", done.stdout)
    assert changed and int(changed.group(1)) > 0, done.stdout  # else the totals would not agree
    assert {s.state for s in migrate.status(db_url) if s.id[:4] <= to} == {"applied"}
    assert {s.state for s in migrate.status(db_url) if s.id[:4] > to} == {"pending"}
    migrate.migrate(db_url)
    assert verify_all(db_url) == ([], [])


def test_drop_data_below_allocations_leaves_the_totals_agreeing_though_credit_notes_lose_their_use(db, db_url, used) -> None:
    done = cli("--database", db_url, "rollback", "--to", "0007", "--drop-data")
    assert done.returncode == 0, done.stderr
    migrate.migrate(db_url)
    rows, chains = verify_all(db_url)
    assert chains == []
    # The running totals agree with what is left; what the credit notes paid is gone with the allocations, so
    # their credit reads open again and the void credit notes no longer settle their invoices.
    assert {r[0] for r in rows} == {"canceled_invoice_open", "open_credit_exceeds_cash"}, rows


def test_tax_left_behind_by_a_credit_note_is_named(db, api, shop, history) -> None:
    c, inv = shop["customer"], history["inv3"]
    assert of(findings(db), "tax_credit_share") == []
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 100}])  # takes its tax share along
    assert of(findings(db), "tax_credit_share") == []
    # the credit note's tax line deleted behind the triggers: the goods went back, their tax stayed
    behind_the_triggers(db, "DELETE FROM billing.credit_note_line AS c USING billing.invoice_line AS l"
                            " WHERE c.customer_id = %s AND c.credit_note_id = %s AND l.customer_id = c.customer_id"
                            " AND l.invoice_id = c.credited_invoice_id AND l.line_no = c.credited_line_no"
                            " AND l.line_type = 'tax'", [c, cn])
    [(check_name, table_name, keys, stored, _computed, _detail)] = of(findings(db), "tax_credit_share")
    assert (check_name, table_name, keys["invoice_id"], stored) == ("tax_credit_share", "credit_note_line", inv, 0)
