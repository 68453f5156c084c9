"""Concurrency stress driver: many connections run a seeded random mix of the whole SQL API against a few hot
customers and many cold ones, bounded in operations and in time; then every invariant is checked.

    python tests/stress.py --url URL --connections 16 --operations 2000 --seconds 120 --log committed.jsonl

Loopback or Unix-socket servers only. Each worker owns one connection (autocommit; the hand-made invoice is one short
explicit transaction) and draws its choices (function, customer, amounts, which known id) from its own
random.Random(f"{seed}:{worker}"), so a run repeats its choices; which concrete ids those choices hit depends, as in
any concurrent run, on the interleaving. Refusals that README's error table documents for the situation are
expected and counted per SQLSTATE; 55P03 (lock wait bounded) and, for crediting, voiding and cancel_order, 40001 are
retried a few times; anything else (40P01 deadlock_detected above all, XX000, an undocumented SQLSTATE) is an
unexpected error and is reported with the server's detail and, for a deadlock, the calls the other backends ran.

Every committed call is appended to the log (one JSON object per line, flushed) before the driver counts it, so a
crash test can prove afterwards that each of them is still there (``verify_log``).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# -- what counts as what ------------------------------------------------------------------------------------------

# Refusals README's error table documents for what the random driver does (it picks ids and amounts blindly):
# 23514 over-billing / over-crediting / over-allocating / over-refunding / over-writing-off, 55000 a document or
# order in the wrong state (canceled, credited in full, nothing left, ...), 23505 disputing a disputed invoice.
EXPECTED = {
    "place_order": set(),
    "create_customer": set(),
    "add_order_line": {"55000"},
    "add_order_charge": {"55000"},
    "bill_order": {"55000", "23514"},
    "invoice_by_hand": {"55000", "23514"},
    "issue_credit_note": {"55000", "23514"},
    "void_invoice": {"55000"},
    "cancel_order": {"55000"},
    "dispute_invoice": {"23505"},
    "resolve_dispute": {"55000"},
    "record_payment": set(),
    "allocate_payment": {"55000", "23514"},
    "auto_allocate": {"55000"},
    "pay_invoices": {"55000"},
    "unallocate": {"55000"},
    "cancel_payment": {"55000"},
    "refund": {"23514", "55000"},  # 55000: from a payment canceled meanwhile
    "write_off": {"55000", "23514"},
    "ar_aging": set(),
    "open_items": set(),
    "customer_statement": set(),
}
# Retried (a few times, then counted as given up): 55P03 for every call (row-lock waits are bounded and documented
# as "retry"); 40001 only where README documents it (crediting or voiding an invoice a payment is being applied to).
RETRYABLE = {op: {"55P03"} for op in EXPECTED}
RETRYABLE["issue_credit_note"] = {"55P03", "40001"}
RETRYABLE["void_invoice"] = {"55P03", "40001"}
RETRYABLE["cancel_order"] = {"55P03", "40001"}
ATTEMPTS = 6
# SQLSTATEs of a server that went away (a crash test kills it): the call's outcome is unknown.
CONNECTION_LOST = {None, "57P01", "57P02", "57P03", "08000", "08003", "08006"}

WEIGHTS = {
    "create_customer": 1, "place_order": 4, "add_order_line": 2, "add_order_charge": 2, "bill_order": 8,
    "invoice_by_hand": 6, "issue_credit_note": 4, "void_invoice": 2, "cancel_order": 1, "dispute_invoice": 2,
    "resolve_dispute": 2, "record_payment": 8, "allocate_payment": 6, "auto_allocate": 6, "pay_invoices": 4,
    "unallocate": 3, "cancel_payment": 1, "refund": 2, "write_off": 2, "ar_aging": 1,
    "open_items": 1, "customer_statement": 2,
}
SKUS = ["ST-1", "ST-2", "ST-3", "ST-4"]
STRATEGIES = ["exact", "oldest", "exact_then_oldest"]
METHODS = ["CASH", "CARD", "BANK_TRANSFER", "PAYPAL", "STRIPE"]


def money(rng: random.Random, low_cents: int, high_cents: int) -> Decimal:
    return Decimal(rng.randint(low_cents, high_cents)) / 100


class Refused(Exception):
    """A documented refusal (kept as the psycopg error's SQLSTATE)."""


class Skip(Exception):
    """Nothing to do it on yet (e.g. no payment known for the customer)."""


# -- shared state ---------------------------------------------------------------------------------------------------

@dataclass
class Customer:
    id: int
    orders: dict[int, int] = field(default_factory=dict)  # order_id -> highest line number known
    invoices: list[int] = field(default_factory=list)  # issued invoices
    credit_notes: list[int] = field(default_factory=list)
    payments: list[int] = field(default_factory=list)
    gateway_numbers: list[tuple[str, Decimal, str]] = field(default_factory=list)


class State:
    """What the workers know was committed, per customer. Only committed ids enter it."""

    def __init__(self, hot: list[int], cold: list[int]) -> None:
        self.lock = threading.Lock()
        self.customers = {c: Customer(c) for c in hot + cold}
        self.hot, self.cold = hot, cold
        self.running: dict[int, str] = {}  # backend pid -> the call it runs (to name the other side of a deadlock)

    def customer(self, rng: random.Random, hot_share: float) -> Customer:
        with self.lock:
            pool = self.hot if self.cold == [] or (self.hot and rng.random() < hot_share) else self.cold
            return self.customers[pool[int(rng.random() * len(pool))]]

    def pick(self, rng: random.Random, items: Iterable[Any]) -> Any:
        with self.lock:
            items = list(items)
        if not items:
            raise Skip
        return items[int(rng.random() * len(items))]

    def add(self, customer: Customer, attr: str, value: Any) -> None:
        with self.lock:
            getattr(customer, attr).append(value)

    def new_customer(self, customer_id: int) -> None:
        with self.lock:
            self.customers[customer_id] = Customer(customer_id)
            self.cold.append(customer_id)


class CommitLog:
    """Append-only JSON-lines log of committed calls, flushed before the driver counts the call."""

    def __init__(self, path: Path | None) -> None:
        self.lock = threading.Lock()
        self.file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        with self.lock:
            if self.file:
                self.file.write(json.dumps(record, default=str) + "\n")
                self.file.flush()
            self.count += 1

    def close(self) -> None:
        if self.file:
            self.file.close()


@dataclass
class Summary:
    seed: int
    connections: int
    operations: int
    hot: int
    cold: int
    attempted: collections.Counter = field(default_factory=collections.Counter)
    committed: collections.Counter = field(default_factory=collections.Counter)
    skipped: collections.Counter = field(default_factory=collections.Counter)
    refused: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    retries: collections.Counter = field(default_factory=collections.Counter)
    gave_up: collections.Counter = field(default_factory=collections.Counter)
    interrupted: int = 0
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    invariants_checked: list[str] = field(default_factory=list)
    violations: dict[str, list[tuple]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "connections": self.connections, "operations": self.operations,
            "customers": {"hot": self.hot, "cold_at_start": self.cold},
            "attempted": sum(self.attempted.values()), "committed": sum(self.committed.values()),
            "skipped": sum(self.skipped.values()), "duration_s": round(self.duration_s, 1),
            "per_function": {op: {"attempted": self.attempted[op], "committed": self.committed[op],
                                  **({"refused": dict(self.refused[op])} if self.refused.get(op) else {})}
                             for op in sorted(self.attempted)},
            "refusals": dict(sum(self.refused.values(), collections.Counter())),
            "retries": dict(self.retries), "gave_up_after_retries": dict(self.gave_up),
            "interrupted_by_lost_connection": self.interrupted,
            "unexpected": self.unexpected,
            "invariants_checked": self.invariants_checked,
            "violations": {k: [list(map(str, r)) for r in v[:5]] for k, v in self.violations.items()},
        }

    def text(self) -> str:
        """The summary as JSON, a line per entry (and per function)."""
        def dump(v: Any) -> str:
            return json.dumps(v, default=str)
        parts = []
        for key, value in self.as_dict().items():
            if key == "per_function":
                inner = ",\n".join(f"  {dump(op)}: {dump(v)}" for op, v in value.items())
                parts.append(f" {dump(key)}: {{\n{inner}\n }}")
            else:
                parts.append(f" {dump(key)}: {dump(value)}")
        return "{\n" + ",\n".join(parts) + "\n}"


# -- the operations -------------------------------------------------------------------------------------------------

class Worker:
    def __init__(self, no: int, url: str, seed: int, state: State, log: CommitLog, summary: Summary,
                 budget: Callable[[], bool], hot_share: float, expect_crash: bool, stats_lock: threading.Lock,
                 on_commit: Callable[[int], None] | None) -> None:
        self.no, self.url, self.state, self.log, self.summary = no, url, state, log, summary
        self.seed = seed
        self.rng = random.Random(f"{seed}:{no}")
        self.jitter = random.Random()  # back-off only: keeps self.rng's choices independent of timing
        self.budget, self.hot_share, self.expect_crash = budget, hot_share, expect_crash
        self.stats_lock, self.on_commit = stats_lock, on_commit
        self.conn: psycopg.Connection | None = None
        self.n = 0

    # each returns the log record of what it committed (None for a read)

    def q(self, sql: str, params: Any = None) -> list[tuple]:
        assert self.conn is not None
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def one(self, sql: str, params: Any = None) -> Any:
        return self.q(sql, params)[0][0]

    def op_create_customer(self, c: Customer) -> dict:
        self.n += 1
        name = f"stress {self.seed}-{self.no}-{self.n}"
        new = self.one("SELECT billing.create_customer(%s, %s)", [name, f"w{self.no}n{self.n}@example.com"])
        self.state.new_customer(new)
        return {"customer": new, "name": name}

    def op_place_order(self, c: Customer) -> dict:
        lines = [{"sku": self.rng.choice(SKUS), "quantity": self.rng.randint(1, 10),
                  "unit_price": str(money(self.rng, 100, 9999))} for _ in range(self.rng.randint(1, 3))]
        order = self.one("SELECT billing.place_order(%s, 'EUR', %s)", [c.id, Jsonb(lines)])
        with self.state.lock:
            c.orders[order] = len(lines)
        return {"id": order, "lines": [[ln["quantity"], ln["unit_price"]] for ln in lines]}

    def op_add_order_line(self, c: Customer) -> dict:
        order = self.state.pick(self.rng, c.orders)
        qty, price = self.rng.randint(1, 10), money(self.rng, 100, 9999)
        line = self.one("SELECT billing.add_order_line(%s, %s, %s, %s, %s)",
                        [c.id, order, self.rng.choice(SKUS), qty, price])
        with self.state.lock:
            c.orders[order] = max(c.orders[order], line)
        return {"order": order, "line_no": line, "quantity": qty, "unit_price": price}

    def op_add_order_charge(self, c: Customer) -> dict:
        order = self.state.pick(self.rng, c.orders)
        amount = money(self.rng, 100, 2000)
        charge = self.one("SELECT billing.add_order_charge(%s, %s, %s, %s)",
                          [c.id, order, self.rng.choice(["SHIPPING", "HANDLING"]), amount])
        return {"order": order, "charge_no": charge, "amount": amount}

    def issued(self, c: Customer, invoice: int) -> dict:
        no, total = self.q("SELECT invoice_no, total FROM billing.invoice WHERE customer_id = %s AND invoice_id = %s",
                           [c.id, invoice])[0]
        return {"id": invoice, "invoice_no": no, "total": total}

    def op_bill_order(self, c: Customer) -> dict:
        order = self.state.pick(self.rng, c.orders)
        with self.state.lock:
            nlines = c.orders[order]
        quantities = None
        if self.rng.random() < 0.6:
            chosen = sorted(self.rng.sample(range(1, nlines + 1), self.rng.randint(1, nlines)))
            quantities = Jsonb({str(n): self.rng.randint(1, 4) for n in chosen})
        invoice = self.one("SELECT billing.bill_order(%s, %s, %s, current_date + %s)",
                           [c.id, order, quantities, self.rng.randint(-40, 40)])
        self.state.add(c, "invoices", invoice)
        return {**self.issued(c, invoice), "order": order}

    def op_invoice_by_hand(self, c: Customer) -> dict:
        with self.state.lock:
            orders = list(c.orders.items())
        product = orders[int(self.rng.random() * len(orders))] if orders and self.rng.random() < 0.6 else None
        fee = money(self.rng, 500, 30000)
        discount = self.rng.random() < 0.3
        tax = self.rng.random() < 0.3
        memo = self.rng.random() < 0.2
        due = self.rng.randint(-60, 60)
        assert self.conn is not None
        with self.conn.transaction():
            invoice = self.one("SELECT billing.create_invoice(%s, 'EUR', current_date + %s)", [c.id, due])
            if product:
                self.q("SELECT billing.add_product_line(%s, %s, %s, %s, %s)",
                       [c.id, invoice, product[0], 1 + int(self.rng.random() * product[1]), self.rng.randint(1, 2)])
            fee_line = self.one("SELECT billing.add_fee_line(%s, %s, 'ADMIN', %s)", [c.id, invoice, fee])
            if discount:
                self.q("SELECT billing.add_discount_line(%s, %s, %s, 'stress discount', %s)",
                       [c.id, invoice, (fee / 10).quantize(Decimal("0.01")) or Decimal("0.01"), fee_line])
            if tax:
                self.q("SELECT billing.add_tax_line(%s, %s, 'DE_VAT', 0.19)", [c.id, invoice])
            if memo:
                self.q("SELECT billing.add_memo_line(%s, %s, 'stress memo')", [c.id, invoice])
            self.q("SELECT billing.issue_invoice(%s, %s)", [c.id, invoice])
            record = self.issued(c, invoice)
        self.state.add(c, "invoices", invoice)
        return record

    def op_issue_credit_note(self, c: Customer) -> dict:
        invoice = self.state.pick(self.rng, c.invoices)
        lines = self.q("SELECT line_no, unit_amount IS NOT NULL, quantity FROM billing.invoice_line"
                       " WHERE customer_id = %s AND invoice_id = %s ORDER BY line_no", [c.id, invoice])
        line_no, has_unit, quantity = lines[int(self.rng.random() * len(lines))]
        roll = self.rng.random()
        if roll < 0.15:
            spec = None
        elif has_unit and roll < 0.6:
            spec = Jsonb([{"line_no": line_no, "quantity": self.rng.randint(1, max(1, int(quantity)))}])
        else:
            spec = Jsonb([{"line_no": line_no, "amount": float(money(self.rng, 1, 3000))}])
        note = self.one("SELECT billing.issue_credit_note(%s, %s, %s, 'stress')", [c.id, invoice, spec])
        self.state.add(c, "credit_notes", note)
        return {**self.issued(c, note), "invoice": invoice}

    def op_void_invoice(self, c: Customer) -> dict:
        invoice = self.state.pick(self.rng, c.invoices)
        note = self.one("SELECT billing.void_invoice(%s, %s, 'stress void')", [c.id, invoice])
        self.state.add(c, "credit_notes", note)
        return {"invoice": invoice, "id": note}

    def op_cancel_order(self, c: Customer) -> dict:
        order = self.state.pick(self.rng, c.orders)
        self.q("SELECT billing.cancel_order(%s, %s, 'stress cancel')", [c.id, order])
        return {"order": order}

    def op_dispute_invoice(self, c: Customer) -> dict:
        invoice = self.state.pick(self.rng, c.invoices)
        self.q("SELECT billing.dispute_invoice(%s, %s, 'stress dispute')", [c.id, invoice])
        return {"invoice": invoice}

    def op_resolve_dispute(self, c: Customer) -> dict:
        invoice = self.state.pick(self.rng, c.invoices)
        self.q("SELECT billing.resolve_dispute(%s, %s, 'stress resolved')", [c.id, invoice])
        return {"invoice": invoice}

    def op_record_payment(self, c: Customer) -> dict:
        amount, method, number = money(self.rng, 500, 30000), self.rng.choice(METHODS), None
        if self.rng.random() < 0.2:  # a gateway's number: sometimes a retry of one recorded before (idempotent)
            with self.state.lock:
                known = list(c.gateway_numbers)
            if known and self.rng.random() < 0.5:
                number, amount, method = known[int(self.rng.random() * len(known))]
            else:
                self.n += 1
                number = f"GW-{self.seed}-{self.no}-{self.n}"  # unique across runs on one database
        payment = self.one("SELECT billing.record_payment(%s, 'EUR', %s, %s, now(), %s)", [c.id, amount, method, number])
        with self.state.lock:
            if payment not in c.payments:
                c.payments.append(payment)
            if number and (number, amount, method) not in c.gateway_numbers:
                c.gateway_numbers.append((number, amount, method))
        return {"id": payment, "amount": amount, "payment_no": number}

    def op_allocate_payment(self, c: Customer) -> dict:
        payment, invoice = self.state.pick(self.rng, c.payments), self.state.pick(self.rng, c.invoices)
        amount = None if self.rng.random() < 0.6 else money(self.rng, 1, 20000)
        allocation = self.one("SELECT billing.allocate_payment(%s, %s, %s, %s)", [c.id, payment, invoice, amount])
        return {"id": allocation, "payment": payment, "invoice": invoice}

    def op_auto_allocate(self, c: Customer) -> dict:
        payment = self.state.pick(self.rng, c.payments)
        rows = self.q("SELECT invoice_id, amount FROM billing.auto_allocate(%s, %s, %s)",
                      [c.id, payment, self.rng.choice(STRATEGIES)])
        return {"payment": payment, "applied": rows}

    def op_pay_invoices(self, c: Customer) -> dict:
        with self.state.lock:
            known = list(c.invoices)
        if not known:
            raise Skip
        invoices = [known[int(self.rng.random() * len(known))] for _ in range(self.rng.randint(1, 3))]
        amount = money(self.rng, 500, 40000)
        payment = self.one("SELECT billing.pay_invoices(%s, 'EUR', %s, 'BANK_TRANSFER', %s)",
                           [c.id, amount, list(dict.fromkeys(invoices))])
        self.state.add(c, "payments", payment)
        return {"id": payment, "amount": amount}

    def op_unallocate(self, c: Customer) -> dict:
        standing = [r[0] for r in self.q(
            "SELECT allocation_id FROM billing.active_allocation WHERE customer_id = %s ORDER BY 1", [c.id])]
        original = self.state.pick(self.rng, standing)
        reversal = self.one("SELECT billing.unallocate(%s, %s, 'stress')", [c.id, original])
        return {"id": reversal, "reverses": original}

    def op_cancel_payment(self, c: Customer) -> dict:
        payment = self.state.pick(self.rng, c.payments)
        self.q("SELECT billing.cancel_payment(%s, %s, 'stress chargeback')", [c.id, payment])
        return {"payment": payment}

    def op_refund(self, c: Customer) -> dict:
        payment = self.state.pick(self.rng, c.payments) if self.rng.random() < 0.5 else None
        amount = money(self.rng, 100, 5000)
        refund = self.one("SELECT billing.refund(%s, 'EUR', %s, 'BANK_TRANSFER', 'stress', %s)",
                          [c.id, amount, payment])
        return {"id": refund, "amount": amount}

    def op_write_off(self, c: Customer) -> dict:
        invoice = self.state.pick(self.rng, c.invoices)
        amount = None if self.rng.random() < 0.5 else money(self.rng, 1, 2000)
        write_off = self.one("SELECT billing.write_off(%s, %s, %s, 'stress')", [c.id, invoice, amount])
        return {"id": write_off, "invoice": invoice}

    def op_ar_aging(self, c: Customer) -> None:
        self.q("SELECT count(*), sum(net) FROM billing.ar_aging()")

    def op_open_items(self, c: Customer) -> None:
        self.q("SELECT count(*), sum(open_amount) FROM billing.open_items()")

    def op_customer_statement(self, c: Customer) -> None:
        self.q("SELECT count(*) FROM billing.customer_statement(%s, current_date - 1, current_date)", [c.id])

    # -- the loop --------------------------------------------------------------------------------------------------

    def run(self) -> None:
        ops, weights = list(WEIGHTS), list(WEIGHTS.values())
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, application_name=f"stress-{self.no}",
                                        options="-c statement_timeout=120s")
        except psycopg.OperationalError as exc:
            with self.stats_lock:
                if self.expect_crash:
                    self.summary.interrupted += 1
                else:
                    self.summary.unexpected.append({"op": "connect", "error": str(exc)})
            return
        pid = self.conn.info.backend_pid
        try:
            while self.budget():
                op = self.rng.choices(ops, weights)[0]
                customer = self.state.customer(self.rng, self.hot_share)
                if not self.attempt(op, customer, pid):
                    return
        finally:
            self.state.running.pop(pid, None)
            self.conn.close()

    def attempt(self, op: str, customer: Customer, pid: int) -> bool:
        """One call with its retries. False when the worker must stop (its connection is gone)."""
        with self.stats_lock:
            self.summary.attempted[op] += 1
        for attempt in range(1, ATTEMPTS + 1):
            self.state.running[pid] = f"{op}(customer {customer.id})"
            try:
                record = getattr(self, f"op_{op}")(customer)
            except Skip:
                with self.stats_lock:
                    self.summary.skipped[op] += 1
                return True
            except psycopg.Error as exc:
                state = exc.sqlstate
                if state in CONNECTION_LOST or (self.conn is not None and self.conn.broken):
                    with self.stats_lock:
                        if self.expect_crash:
                            self.summary.interrupted += 1
                        else:
                            self.summary.unexpected.append(self.describe(op, customer, exc))
                    return False
                if state in RETRYABLE[op]:
                    with self.stats_lock:
                        self.summary.retries[state] += 1
                    if attempt < ATTEMPTS:
                        time.sleep(self.jitter.uniform(0.001, 0.01 * attempt))  # back-off before a retry
                        continue
                    with self.stats_lock:
                        self.summary.gave_up[op] += 1
                    return True
                with self.stats_lock:
                    if state in EXPECTED[op]:
                        self.summary.refused[op][state] += 1
                    else:
                        self.summary.unexpected.append(self.describe(op, customer, exc))
                return True
            if record is not None:
                self.log.write({"op": op, "customer": customer.id, **record})
            with self.stats_lock:
                self.summary.committed[op] += 1
                done = sum(self.summary.committed.values())
            if self.on_commit:
                self.on_commit(done)
            return True
        return True

    def describe(self, op: str, customer: Customer, exc: psycopg.Error) -> dict[str, Any]:
        diag = exc.diag
        found: dict[str, Any] = {
            "op": op, "customer": customer.id, "worker": self.no, "sqlstate": exc.sqlstate,
            "message": diag.message_primary or str(exc), "detail": diag.message_detail, "context": diag.context,
        }
        if exc.sqlstate == "40P01" and diag.message_detail:
            # "Process 123 waits for ShareLock on transaction 456; blocked by process 789." -> what those ran
            pids = {int(p) for p in re.findall(r"[Pp]rocess (\d+)", diag.message_detail)}
            found["deadlocked_with"] = {p: self.state.running.get(p, "?") for p in sorted(pids)}
        return found


# -- set-up, run, invariants ----------------------------------------------------------------------------------------

def prepare(url: str, hot: int, cold: int) -> tuple[list[int], list[int]]:
    """The products (once per database), and the hot and cold customers."""
    with psycopg.connect(url, autocommit=True) as conn:
        for sku in SKUS:
            conn.execute("INSERT INTO billing.product (sku, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         [sku, f"stress product {sku}"])
        ids = [conn.execute("SELECT billing.create_customer(%s)", [f"stress {kind} {n}"]).fetchone()[0]
               for kind, count in (("hot", hot), ("cold", cold)) for n in range(count)]
    return ids[:hot], ids[hot:]


def seed_customers(url: str, state: State, seed: int) -> None:
    """Give every customer an order (three lines), a billed invoice and a payment, so every call has ids to use."""
    rng = random.Random(f"{seed}:setup")
    with psycopg.connect(url, autocommit=True) as conn:
        for c in state.customers.values():
            lines = [{"sku": SKUS[n], "quantity": rng.randint(2, 10), "unit_price": str(money(rng, 100, 9999))}
                     for n in range(3)]
            order = conn.execute("SELECT billing.place_order(%s, 'EUR', %s)", [c.id, Jsonb(lines)]).fetchone()[0]
            c.orders[order] = 3
            c.invoices.append(conn.execute("SELECT billing.bill_order(%s, %s, '{\"1\": 1}')", [c.id, order]).fetchone()[0])
            c.payments.append(conn.execute("SELECT billing.record_payment(%s, 'EUR', %s, 'CARD')",
                                           [c.id, money(rng, 1000, 20000)]).fetchone()[0])


def run(url: str, connections: int = 16, operations: int = 2000, seconds: float = 120, log: Path | None = None,
        seed: int | None = None, hot: int = 3, cold: int = 40, hot_share: float = 0.5, expect_crash: bool = False,
        on_commit: Callable[[int], None] | None = None, state: State | None = None, check: bool = True,
        out: Callable[[str], None] | None = print) -> tuple[Summary, State]:
    """Run the mix; returns the summary (with invariant violations when check) and the state, which a later run on
    the same database (after a crash and restart) can continue with."""
    seed = random.randrange(2**31) if seed is None else seed
    if out:
        out(f"stress: seed {seed}, {connections} connections, {operations} operations, at most {seconds} s")
    if state is None:
        hot_ids, cold_ids = prepare(url, hot, cold)
        state = State(hot_ids, cold_ids)
        seed_customers(url, state, seed)
    summary = Summary(seed, connections, operations, len(state.hot), len(state.cold))
    commit_log = CommitLog(log)
    lock = threading.Lock()
    taken = [0]
    deadline = time.monotonic() + seconds

    def budget() -> bool:
        with lock:
            if taken[0] >= operations or time.monotonic() > deadline:
                return False
            taken[0] += 1
            return True

    stats_lock = threading.Lock()
    workers = [Worker(n, url, seed, state, commit_log, summary, budget, hot_share, expect_crash, stats_lock, on_commit)
               for n in range(connections)]
    threads = [threading.Thread(target=w.run, name=f"stress-{w.no}") for w in workers]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary.duration_s = time.monotonic() - started
    commit_log.close()
    if check:
        summary.violations = check_invariants(url)
        summary.invariants_checked = list(INVARIANTS)
        summary.violations = {k: v for k, v in summary.violations.items() if v}
    if out:
        out(summary.text())
    return summary, state


# Net billed per order line and charge, from issued documents alone.
_NET_BILLED = """
WITH billed_line AS (
    SELECT p.customer_id, p.order_id, p.order_line_no AS item_no, sum(l.quantity) AS q
    FROM billing.invoice_product_line AS p
    JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
    JOIN billing.invoice AS i USING (customer_id, invoice_id)
    WHERE i.status = 'issued' GROUP BY 1, 2, 3
), credited_line AS (
    SELECT p.customer_id, p.order_id, p.order_line_no AS item_no, sum(c.quantity) AS q
    FROM billing.credit_note_line AS c
    JOIN billing.invoice AS cn ON cn.customer_id = c.customer_id AND cn.invoice_id = c.credit_note_id
    JOIN billing.invoice_product_line AS p
        ON p.customer_id = c.customer_id AND p.invoice_id = c.credited_invoice_id AND p.line_no = c.credited_line_no
    WHERE cn.status = 'issued' AND c.quantity IS NOT NULL GROUP BY 1, 2, 3
), billed_charge AS (
    SELECT f.customer_id, f.order_id, f.order_charge_no AS item_no, sum(l.amount) AS a
    FROM billing.invoice_fee_line AS f
    JOIN billing.invoice_line AS l USING (customer_id, invoice_id, line_no)
    JOIN billing.invoice AS i USING (customer_id, invoice_id)
    WHERE i.status = 'issued' AND f.order_charge_no IS NOT NULL GROUP BY 1, 2, 3
), credited_charge AS (
    SELECT f.customer_id, f.order_id, f.order_charge_no AS item_no, sum(c.amount) AS a
    FROM billing.credit_note_line AS c
    JOIN billing.invoice AS cn ON cn.customer_id = c.customer_id AND cn.invoice_id = c.credit_note_id
    JOIN billing.invoice_fee_line AS f
        ON f.customer_id = c.customer_id AND f.invoice_id = c.credited_invoice_id AND f.line_no = c.credited_line_no
    WHERE cn.status = 'issued' AND f.order_charge_no IS NOT NULL GROUP BY 1, 2, 3
), line_net AS (
    SELECT ol.customer_id, ol.order_id, ol.line_no, ol.quantity, ol.billed_quantity,
        coalesce(b.q, 0) - coalesce(c.q, 0) AS net
    FROM billing.order_line AS ol
    LEFT JOIN billed_line AS b ON (b.customer_id, b.order_id, b.item_no) = (ol.customer_id, ol.order_id, ol.line_no)
    LEFT JOIN credited_line AS c ON (c.customer_id, c.order_id, c.item_no) = (ol.customer_id, ol.order_id, ol.line_no)
), charge_net AS (
    SELECT oc.customer_id, oc.order_id, oc.charge_no, oc.amount, oc.billed_amount,
        coalesce(b.a, 0) - coalesce(c.a, 0) AS net
    FROM billing.order_charge AS oc
    LEFT JOIN billed_charge AS b ON (b.customer_id, b.order_id, b.item_no) = (oc.customer_id, oc.order_id, oc.charge_no)
    LEFT JOIN credited_charge AS c ON (c.customer_id, c.order_id, c.item_no) = (oc.customer_id, oc.order_id, oc.charge_no)
)
"""

# What each document and payment has used, from history rows alone.
_USED = """
WITH alloc_to AS (
    SELECT customer_id, invoice_id, sum(amount) AS a FROM billing.allocation GROUP BY 1, 2
), alloc_from_payment AS (
    SELECT customer_id, payment_id, sum(amount) AS a FROM billing.allocation WHERE payment_id IS NOT NULL GROUP BY 1, 2
), alloc_from_note AS (
    SELECT customer_id, credit_note_id, sum(amount) AS a FROM billing.allocation
    WHERE credit_note_id IS NOT NULL GROUP BY 1, 2
), written_off AS (
    SELECT customer_id, invoice_id, sum(amount) AS a FROM billing.write_off GROUP BY 1, 2
), refunded_payment AS (
    SELECT customer_id, payment_id, sum(amount) AS a FROM billing.refund_part WHERE payment_id IS NOT NULL GROUP BY 1, 2
), refunded_note AS (
    SELECT customer_id, credit_note_id, sum(amount) AS a FROM billing.refund_part
    WHERE credit_note_id IS NOT NULL GROUP BY 1, 2
), credited AS (
    SELECT customer_id, credited_invoice_id AS invoice_id, sum(total) AS a FROM billing.invoice
    WHERE kind = 'credit_note' AND status = 'issued' GROUP BY 1, 2
), doc AS (
    SELECT i.customer_id, i.invoice_id, i.kind, i.status, i.total,
        coalesce(t.a, 0) AS paid_to, coalesce(w.a, 0) AS written_off, coalesce(f.a, 0) AS applied_from,
        coalesce(r.a, 0) AS refunded_from, coalesce(c.a, 0) AS credited
    FROM billing.invoice AS i
    LEFT JOIN alloc_to AS t ON (t.customer_id, t.invoice_id) = (i.customer_id, i.invoice_id)
    LEFT JOIN written_off AS w ON (w.customer_id, w.invoice_id) = (i.customer_id, i.invoice_id)
    LEFT JOIN alloc_from_note AS f ON (f.customer_id, f.credit_note_id) = (i.customer_id, i.invoice_id)
    LEFT JOIN refunded_note AS r ON (r.customer_id, r.credit_note_id) = (i.customer_id, i.invoice_id)
    LEFT JOIN credited AS c ON (c.customer_id, c.invoice_id) = (i.customer_id, i.invoice_id)
), pay AS (
    SELECT p.customer_id, p.payment_id, p.amount, coalesce(a.a, 0) AS allocated, coalesce(r.a, 0) AS refunded,
        EXISTS (SELECT FROM billing.payment_cancellation AS pc
                WHERE (pc.customer_id, pc.payment_id) = (p.customer_id, p.payment_id)) AS canceled
    FROM billing.payment AS p
    LEFT JOIN alloc_from_payment AS a ON (a.customer_id, a.payment_id) = (p.customer_id, p.payment_id)
    LEFT JOIN refunded_payment AS r ON (r.customer_id, r.payment_id) = (p.customer_id, p.payment_id)
)
"""

# Each query returns the rows that break its rule; an empty result is a kept invariant.
INVARIANTS: dict[str, str] = {
    # no over-allocation: a payment's allocations and refunds never exceed its amount
    "payment_not_over_allocated": _USED + """
        SELECT customer_id, payment_id, amount, allocated, refunded FROM pay
        WHERE allocated < 0 OR allocated + refunded > amount""",
    # a credit note's applications and refunds never exceed its total; a draft is never a source
    "credit_note_not_over_applied": _USED + """
        SELECT customer_id, invoice_id, status, total, applied_from, refunded_from FROM doc
        WHERE kind = 'credit_note' AND (applied_from < 0 OR applied_from + refunded_from > coalesce(total, 0))""",
    # no over-billing of the customer: what pays or writes off an invoice never exceeds its total
    "invoice_not_over_paid": _USED + """
        SELECT customer_id, invoice_id, status, total, paid_to, written_off FROM doc
        WHERE kind = 'invoice' AND (paid_to < 0 OR written_off < 0 OR paid_to + written_off > coalesce(total, 0))""",
    # order lines and charges never billed beyond what was ordered (net of credit notes), nor below zero
    "order_line_not_over_billed": _NET_BILLED + """
        SELECT customer_id, order_id, line_no, quantity, net FROM line_net WHERE net < 0 OR net > quantity""",
    "order_charge_not_over_billed": _NET_BILLED + """
        SELECT customer_id, order_id, charge_no, amount, net FROM charge_net WHERE net < 0 OR net > amount""",
    # no over-credit: credit notes never give back more than an invoice, or one of its lines, billed
    "invoice_not_over_credited": _USED + """
        SELECT customer_id, invoice_id, total, credited, NULL::integer AS line_no FROM doc
        WHERE kind = 'invoice' AND credited > coalesce(total, 0)
        UNION ALL
        SELECT l.customer_id, l.invoice_id, l.amount, sum(c.amount), l.line_no
        FROM billing.invoice_line AS l
        JOIN billing.credit_note_line AS c
            ON c.customer_id = l.customer_id AND c.credited_invoice_id = l.invoice_id AND c.credited_line_no = l.line_no
        JOIN billing.invoice AS cn ON cn.customer_id = c.customer_id AND cn.invoice_id = c.credit_note_id
        WHERE cn.status = 'issued'
        GROUP BY l.customer_id, l.invoice_id, l.line_no, l.amount, l.quantity
        HAVING abs(sum(c.amount)) > abs(l.amount) OR coalesce(sum(c.quantity), 0) > l.quantity""",
    # gapless numbers: every series (global, and per customer) is 1..n without gap or repeat, its counter at n + 1;
    # an issued document has a number of its series' form, a draft none
    "numbers_gapless_per_series": """
        WITH doc AS (
            SELECT i.customer_id, i.invoice_id, i.kind, i.status, i.invoice_no,
                CASE
                    WHEN i.invoice_no ~ ('^' || s.prefix || '-[0-9]+$') THEN 'global'
                    WHEN i.invoice_no ~ ('^' || s.prefix || '-' || i.customer_id || '-[0-9]+$') THEN 'per_customer'
                END AS form,
                substring(i.invoice_no FROM '([0-9]+)$')::bigint AS n
            FROM billing.invoice AS i JOIN billing.document_series AS s ON s.series = i.kind
        ), global_series AS (
            SELECT s.series, s.next_no, count(d.n) AS c, count(DISTINCT d.n) AS d, coalesce(max(d.n), 0) AS m
            FROM billing.document_series AS s
            LEFT JOIN doc AS d ON d.kind = s.series AND d.form = 'global'
            GROUP BY s.series, s.next_no
        ), customer_series AS (
            SELECT s.customer_id, s.series, s.next_no, count(d.n) AS c, count(DISTINCT d.n) AS d,
                coalesce(max(d.n), 0) AS m
            FROM billing.customer_document_series AS s
            LEFT JOIN doc AS d ON d.customer_id = s.customer_id AND d.kind = s.series AND d.form = 'per_customer'
            GROUP BY s.customer_id, s.series, s.next_no
        )
        SELECT 'document ' || invoice_id || ' of customer ' || customer_id || ' is ' || status
            || ' with number ' || coalesce(invoice_no, 'none') FROM doc
        WHERE (status = 'issued') <> (invoice_no IS NOT NULL) OR (status = 'issued' AND form IS NULL)
        UNION ALL
        SELECT 'series ' || series || ': ' || c || ' numbers, ' || d || ' distinct, highest ' || m || ', next ' || next_no
        FROM global_series WHERE NOT (c = d AND d = m AND next_no = m + 1)
        UNION ALL
        SELECT 'series ' || series || ' of customer ' || customer_id || ': ' || c || ' numbers, ' || d
            || ' distinct, highest ' || m || ', next ' || next_no
        FROM customer_series WHERE NOT (c = d AND d = m AND next_no = m + 1)
        UNION ALL
        SELECT 'customer ' || d.customer_id || ' has ' || d.kind || ' numbers but no series row' FROM doc AS d
        WHERE d.form = 'per_customer' AND NOT EXISTS (
            SELECT FROM billing.customer_document_series AS s WHERE s.customer_id = d.customer_id AND s.series = d.kind)""",
    # balance rows equal the sums recomputed from history
    "invoice_balance_matches_history": _USED + """
        SELECT d.customer_id, d.invoice_id, d.kind, d.status, b.total, b.credited, b.allocated, b.refunded
        FROM doc AS d
        LEFT JOIN billing.invoice_balance AS b ON (b.customer_id, b.invoice_id) = (d.customer_id, d.invoice_id)
        WHERE (d.status = 'issued') <> (b.invoice_id IS NOT NULL)
            OR b.total <> d.total
            OR b.credited <> d.credited
            OR b.allocated <> CASE d.kind WHEN 'invoice' THEN d.paid_to + d.written_off ELSE d.applied_from END
            OR b.refunded <> d.refunded_from""",
    "payment_balance_matches_history": _USED + """
        SELECT p.customer_id, p.payment_id, b.amount, b.allocated, b.refunded, b.voided, p.amount, p.allocated,
            p.refunded, p.canceled
        FROM pay AS p
        LEFT JOIN billing.payment_balance AS b ON (b.customer_id, b.payment_id) = (p.customer_id, p.payment_id)
        WHERE b.payment_id IS NULL OR b.amount <> p.amount OR b.allocated <> p.allocated OR b.refunded <> p.refunded
            OR b.voided <> CASE WHEN p.canceled THEN p.amount - p.allocated - p.refunded ELSE 0 END
            OR (p.canceled AND p.allocated <> 0)""",
    "order_line_billed_matches_history": _NET_BILLED + """
        SELECT customer_id, order_id, line_no, billed_quantity, net FROM line_net WHERE billed_quantity <> net""",
    "order_charge_billed_matches_history": _NET_BILLED + """
        SELECT customer_id, order_id, charge_no, billed_amount, net FROM charge_net WHERE billed_amount <> net""",
    # a canceled invoice has nothing open
    "canceled_invoice_nothing_open": _USED + """
        SELECT d.customer_id, d.invoice_id, d.total, d.paid_to, d.written_off FROM doc AS d
        JOIN billing.invoice_cancellation AS x ON (x.customer_id, x.invoice_id) = (d.customer_id, d.invoice_id)
        WHERE d.total - d.paid_to - d.written_off <> 0""",
    # credit that can leave as cash came in as cash: per customer and currency, open credit (payments' unapplied
    # rest and credit notes' unapplied credit) never exceeds the payments received less refunds and bounces
    "open_credit_within_cash_received": _USED + """
        SELECT customer_id, currency, sum(credit) AS open_credit, sum(cash) AS net_cash
        FROM (
            SELECT p.customer_id, x.currency,
                CASE WHEN p.canceled THEN 0 ELSE p.amount - p.allocated - p.refunded END AS credit,
                p.amount - p.refunded - CASE WHEN p.canceled THEN p.amount - p.allocated - p.refunded ELSE 0 END AS cash
            FROM pay AS p JOIN billing.payment AS x ON (x.customer_id, x.payment_id) = (p.customer_id, p.payment_id)
            UNION ALL
            SELECT d.customer_id, i.currency, d.total - d.applied_from - d.refunded_from, 0
            FROM doc AS d JOIN billing.invoice AS i ON (i.customer_id, i.invoice_id) = (d.customer_id, d.invoice_id)
            WHERE d.kind = 'credit_note' AND d.status = 'issued'
        ) AS m
        GROUP BY customer_id, currency HAVING sum(credit) > sum(cash)""",
    # tax goes back with its base: what credit notes took of a tax line is its share of what they took of the
    # lines before it (within a minor unit per credit note)
    "tax_credited_with_its_base": """
        WITH credit AS (
            SELECT c.customer_id, c.credited_invoice_id AS invoice_id, c.credited_line_no AS line_no,
                sum(c.amount) AS amount, count(*) AS notes
            FROM billing.credit_note_line AS c
            JOIN billing.invoice AS cn ON (cn.customer_id, cn.invoice_id) = (c.customer_id, c.credit_note_id)
            WHERE cn.status = 'issued' GROUP BY 1, 2, 3
        )
        SELECT t.customer_id, t.invoice_id, t.line_no, t.amount AS tax, coalesce(tc.amount, 0) AS tax_credited,
            base.amount AS base, base.credited AS base_credited
        FROM billing.invoice_line AS t
        JOIN billing.invoice AS i ON (i.customer_id, i.invoice_id) = (t.customer_id, t.invoice_id)
        LEFT JOIN credit AS tc ON (tc.customer_id, tc.invoice_id, tc.line_no) = (t.customer_id, t.invoice_id, t.line_no)
        CROSS JOIN LATERAL (
            SELECT sum(l.amount) AS amount, coalesce(sum(c.amount), 0) AS credited, coalesce(max(c.notes), 0) AS notes
            FROM billing.invoice_line AS l
            LEFT JOIN credit AS c ON (c.customer_id, c.invoice_id, c.line_no) = (l.customer_id, l.invoice_id, l.line_no)
            WHERE l.customer_id = t.customer_id AND l.invoice_id = t.invoice_id AND l.line_no < t.line_no
                AND l.line_type <> 'tax'
        ) AS base
        WHERE t.line_type = 'tax' AND base.amount <> 0
            AND abs(coalesce(tc.amount, 0) - t.amount * base.credited / base.amount)
                > greatest(coalesce(tc.notes, 0), base.notes, 1) * power(10::numeric, -billing.minor_units(i.currency))""",
    # a refund is exactly its parts
    "refund_equals_its_parts": """
        SELECT r.customer_id, r.refund_id, r.amount, sum(p.amount)
        FROM billing.refund AS r
        LEFT JOIN billing.refund_part AS p ON (p.customer_id, p.refund_id) = (r.customer_id, r.refund_id)
        GROUP BY r.customer_id, r.refund_id, r.amount HAVING sum(p.amount) IS DISTINCT FROM r.amount""",
    # every hash chain recomputes (functions/88_chain.sql)
    "verify_chain": "SELECT * FROM billing.verify_chain()",
}

def check_invariants(url_or_conn: str | psycopg.Connection) -> dict[str, list[tuple]]:
    """Every invariant's violating rows (all empty: every rule holds), read in one snapshot."""
    if isinstance(url_or_conn, str):
        with psycopg.connect(url_or_conn) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            return check_invariants(conn)
    conn = url_or_conn
    return {name: conn.execute(sql).fetchall() for name, sql in INVARIANTS.items()}


# -- proof that committed calls survived ----------------------------------------------------------------------------

# For each logged call: a query that is true when what it committed is in the database, with its content.
PROOFS: dict[str, str] = {
    "create_customer": "SELECT EXISTS (SELECT FROM billing.customer WHERE customer_id = %(customer)s AND name = %(name)s)",
    "place_order": """SELECT count(*) = jsonb_array_length(%(lines)s::jsonb) FROM billing.order_line AS l
        JOIN jsonb_array_elements(%(lines)s::jsonb) WITH ORDINALITY AS e (v, n) ON e.n = l.line_no
        WHERE l.customer_id = %(customer)s AND l.order_id = %(id)s
            AND l.quantity = (e.v ->> 0)::numeric AND l.unit_price = (e.v ->> 1)::numeric""",
    "add_order_line": """SELECT EXISTS (SELECT FROM billing.order_line WHERE customer_id = %(customer)s
        AND order_id = %(order)s AND line_no = %(line_no)s AND quantity = %(quantity)s AND unit_price = %(unit_price)s)""",
    "add_order_charge": """SELECT EXISTS (SELECT FROM billing.order_charge WHERE customer_id = %(customer)s
        AND order_id = %(order)s AND charge_no = %(charge_no)s AND amount = %(amount)s)""",
    "bill_order": """SELECT EXISTS (SELECT FROM billing.invoice WHERE customer_id = %(customer)s AND invoice_id = %(id)s
        AND kind = 'invoice' AND status = 'issued' AND invoice_no = %(invoice_no)s AND total = %(total)s)""",
    "invoice_by_hand": """SELECT EXISTS (SELECT FROM billing.invoice WHERE customer_id = %(customer)s
        AND invoice_id = %(id)s AND kind = 'invoice' AND status = 'issued' AND invoice_no = %(invoice_no)s
        AND total = %(total)s)""",
    "issue_credit_note": """SELECT EXISTS (SELECT FROM billing.invoice WHERE customer_id = %(customer)s
        AND invoice_id = %(id)s AND kind = 'credit_note' AND status = 'issued' AND invoice_no = %(invoice_no)s
        AND total = %(total)s AND credited_invoice_id = %(invoice)s)""",
    "void_invoice": """SELECT EXISTS (SELECT FROM billing.invoice_cancellation WHERE customer_id = %(customer)s
        AND invoice_id = %(invoice)s AND credit_note_id = %(id)s)""",
    "cancel_order": """SELECT EXISTS (SELECT FROM billing.sales_order WHERE customer_id = %(customer)s
        AND order_id = %(order)s AND is_canceled)""",
    "dispute_invoice": """SELECT EXISTS (SELECT FROM billing.invoice_dispute WHERE customer_id = %(customer)s
        AND invoice_id = %(invoice)s)""",
    "resolve_dispute": """SELECT EXISTS (SELECT FROM billing.invoice_dispute WHERE customer_id = %(customer)s
        AND invoice_id = %(invoice)s AND resolved_at IS NOT NULL)""",
    "record_payment": """SELECT EXISTS (SELECT FROM billing.payment WHERE customer_id = %(customer)s
        AND payment_id = %(id)s AND amount = %(amount)s AND payment_no = coalesce(%(payment_no)s, payment_no))""",
    "pay_invoices": """SELECT EXISTS (SELECT FROM billing.payment WHERE customer_id = %(customer)s
        AND payment_id = %(id)s AND amount = %(amount)s)""",
    "allocate_payment": """SELECT EXISTS (SELECT FROM billing.allocation WHERE customer_id = %(customer)s
        AND allocation_id = %(id)s AND payment_id = %(payment)s AND invoice_id = %(invoice)s)""",
    "auto_allocate": """SELECT count(*) = jsonb_array_length(%(applied)s::jsonb)
        FROM jsonb_array_elements(%(applied)s::jsonb) AS e (v)
        WHERE EXISTS (SELECT FROM billing.allocation AS a WHERE a.customer_id = %(customer)s
            AND a.payment_id = %(payment)s AND a.invoice_id = (e.v ->> 0)::bigint AND a.amount = (e.v ->> 1)::numeric
            AND a.reverses_allocation_id IS NULL)""",
    "unallocate": """SELECT EXISTS (SELECT FROM billing.allocation WHERE customer_id = %(customer)s
        AND allocation_id = %(id)s AND reverses_allocation_id = %(reverses)s)""",
    "cancel_payment": """SELECT EXISTS (SELECT FROM billing.payment_cancellation WHERE customer_id = %(customer)s
        AND payment_id = %(payment)s)""",
    "refund": """SELECT EXISTS (SELECT FROM billing.refund WHERE customer_id = %(customer)s AND refund_id = %(id)s
        AND amount = %(amount)s)""",
    "write_off": """SELECT EXISTS (SELECT FROM billing.write_off WHERE customer_id = %(customer)s
        AND write_off_id = %(id)s AND invoice_id = %(invoice)s)""",
}


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def verify_log(url: str, path: Path) -> tuple[int, list[dict[str, Any]]]:
    """Check every logged committed call against the database: (how many were checked, the ones missing)."""
    records = read_log(path)
    missing = []
    with psycopg.connect(url) as conn:
        for rec in records:
            params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in rec.items()}
            params.setdefault("payment_no", None)
            if not conn.execute(PROOFS[rec["op"]], params).fetchone()[0]:
                missing.append(rec)
    return len(records), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a migrated pgbilling database (loopback or Unix socket only)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--operations", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--log", type=Path, help="append each committed call here (JSON lines)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--hot", type=int, default=3, help="customers that get --hot-share of the calls")
    parser.add_argument("--cold", type=int, default=40)
    parser.add_argument("--hot-share", type=float, default=0.5)
    args = parser.parse_args(argv)
    host = psycopg.conninfo.conninfo_to_dict(args.url).get("host") or ""
    if host and not (host.startswith("/") or host in ("localhost", "::1") or host.startswith("127.")):
        parser.error(f"--url must point at this machine (a Unix socket, localhost or 127.0.0.0/8), not {host}")
    summary, _ = run(args.url, args.connections, args.operations, args.seconds, args.log, args.seed, args.hot,
                     args.cold, args.hot_share)
    return 1 if summary.unexpected or summary.violations else 0


if __name__ == "__main__":
    sys.exit(main())
