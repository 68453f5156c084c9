"""Model-based test: random sequences of the whole ledger API (invoices, payments, allocations, credit notes,
write-offs, refunds, voids, payment cancellations, un-allocations), refusals included (amounts too large or with
a decimal too many, another customer's or another currency's documents, canceled documents), run on the database
and on tests/ledger_model.py, a reference model written from README's rules. After every step, per customer: each
invoice's and credit note's open amount (invoice_summary), each payment's unapplied rest (payment_summary), each
customer's receivable and open credit per currency (customer_balance), the allocations and write-offs each call
appended, and whether the call was refused, with which SQLSTATE. A refused call changes nothing.

PGBILLING_MODEL_EXAMPLES sets how many examples to run (default 80, under a minute on 2 cores); each runs up to
PGBILLING_MODEL_STEPS steps (default 200; a step is one call, or two for `pay`, or nothing when the documents it
draws do not exist yet), and the run must have explored a sequence of at least 100 calls; PGBILLING_MODEL_SHRINK=0 reports a disagreement without minimizing it (quicker when
hunting). One database per test, three fresh customers per example.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from ledger_model import MINOR_UNITS, ZERO, Ledger, Refused

EXAMPLES = int(os.environ.get("PGBILLING_MODEL_EXAMPLES", "80"))
STEPS = int(os.environ.get("PGBILLING_MODEL_STEPS", "200"))
PHASES = tuple(Phase) if os.environ.get("PGBILLING_MODEL_SHRINK", "1") != "0" else (Phase.explicit, Phase.generate)

# TEMPORARY, must be empty on main: operations (a rule's name) left out while a disagreement the test found is
# fixed in the SQL, so that the test finds the next one.
EXCLUDED: frozenset[str] = frozenset()
LENGTHS: list[int] = []  # calls per example, of this run

CURRENCIES = ["EUR", "JPY"]
CUSTOMERS = 3

index = st.integers(min_value=0, max_value=1000)
# Which document a call names: 0-6 one the call can use, 7 any of the customer's, 8 another customer's, 9 one
# of the wrong kind (LedgerMachine.pick).
slip = st.sampled_from(list(range(7)) * 3 + [7, 8, 9])
# How an amount is chosen against what the model says is there (base): a part, all of it, one minor unit
# more, a part with one decimal too many, zero or less, or NULL (the function's default).
amount = st.tuples(st.sampled_from(["part"] * 4 + ["exact"] * 2 + ["null"] * 2 + ["over", "decimals", "zero"]),
                   st.integers(min_value=1, max_value=100))
minor = st.integers(min_value=1, max_value=50_000)


def money(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-MINOR_UNITS[currency])


def minor_units(value: Decimal, currency: str) -> int:
    return int(value.scaleb(MINOR_UNITS[currency]))


def choose(choice: tuple[str, int], base: Decimal, currency: str, null: bool = True) -> Decimal | None:
    mode, pct = choice
    b = minor_units(base, currency)
    part = max(1, b * pct // 100)
    if mode == "null" and null:
        return None
    if mode == "exact":
        return money(max(b, 1), currency)
    if mode == "over":
        return money(b + pct, currency)
    if mode == "decimals":
        return Decimal(part * 10 + 3).scaleb(-MINOR_UNITS[currency] - 1)
    if mode == "zero":
        return money(-pct if pct % 2 else 0, currency)
    return money(part, currency)


class Json:
    """A jsonb argument. Amounts are written as exact JSON numbers (json.dumps would take a Decimal for a
    string, or go through float)."""

    def __init__(self, value: Any) -> None:
        self.text = self.dump(value)

    @classmethod
    def dump(cls, value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {cls.dump(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(cls.dump(v) for v in value) + "]"
        if isinstance(value, Decimal | int):
            return str(value)
        return json.dumps(value)


def literal(value: Any) -> str:
    """A call's argument as SQL text, for the calls of an example printed with a disagreement."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Json):
        return literal(value.text) + "::jsonb"
    return str(value)


class LedgerMachine(RuleBasedStateMachine):
    conn: psycopg.Connection  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.model = Ledger()
        self.customers = [self.call("create_customer", "model") for _ in range(CUSTOMERS)]
        self.db: dict[int, int] = {}  # model key -> database id
        self.log: list[str] = []
        self.last_allocation = self.max_id("allocation")
        self.last_write_off = self.max_id("write_off")
        self.seen = self.read()
        LENGTHS.append(0)  # calls made in this example

    # ---- talking to the database ----

    def max_id(self, table: str) -> int:
        return self.conn.execute(f"SELECT coalesce(max({table}_id), 0) FROM billing.{table}").fetchone()[0]

    def call(self, name: str, *args: Any) -> Any:
        """billing.name(args) in its own transaction (autocommit): a refusal changes nothing."""
        params = [a.text if isinstance(a, Json) else a for a in args]
        placeholders = ", ".join("%s::jsonb" if isinstance(a, Json) else "%s" for a in args)
        return self.conn.execute(f"SELECT billing.{name}({placeholders})", params).fetchone()[0]

    def read(self) -> dict[str, Any]:
        """What the views say of this example's customers, and how many history rows they have."""
        c = {"c": self.customers}
        columns = ["kind", "total", "credited", "paid", "written_off", "open_amount", "is_canceled"]
        docs = {r[0]: dict(zip(columns, r[1:])) for r in self.conn.execute(
            "SELECT invoice_id, kind, total, credited, paid, written_off, open_amount, is_canceled"
            " FROM billing.invoice_summary WHERE customer_id = ANY(%(c)s) AND status = 'issued'", c)}
        payments = {r[0]: dict(zip(["amount", "allocated", "refunded", "unallocated", "is_canceled"], r[1:]))
                    for r in self.conn.execute(
                        "SELECT payment_id, amount, allocated, refunded, unallocated, is_canceled"
                        " FROM billing.payment_summary WHERE customer_id = ANY(%(c)s)", c)}
        balance = {(r[0], r[1].strip()): (r[2], r[3]) for r in self.conn.execute(
            "SELECT customer_id, currency, receivable, open_credit FROM billing.customer_balance"
            " WHERE customer_id = ANY(%(c)s)", c)}
        counts = self.conn.execute(
            "SELECT (SELECT count(*) FROM billing.invoice WHERE customer_id = ANY(%(c)s)),"
            " (SELECT count(*) FROM billing.allocation WHERE customer_id = ANY(%(c)s)),"
            " (SELECT count(*) FROM billing.write_off WHERE customer_id = ANY(%(c)s)),"
            " (SELECT count(*) FROM billing.refund WHERE customer_id = ANY(%(c)s)),"
            " (SELECT count(*) FROM billing.payment_cancellation WHERE customer_id = ANY(%(c)s)),"
            " (SELECT count(*) FROM billing.invoice_cancellation WHERE customer_id = ANY(%(c)s))", c).fetchone()
        return {"documents": docs, "payments": payments, "balance": balance, "counts": counts}

    def expected(self) -> dict[str, Any]:
        m = self.model
        docs = {self.db[k]: m.invoice_row(k) for k in m.invoices}
        docs |= {self.db[k]: m.credit_note_row(k) for k in m.credit_notes}
        payments = {self.db[k]: m.payment_row(k) for k in m.payments}
        balance = {(c, cur): v for c in self.customers for cur, v in m.customer_balance(c).items()}
        return {"documents": docs, "payments": payments, "balance": balance}

    def fail(self, message: str) -> None:
        raise AssertionError(message + "\n\nthe calls of this example:\n" + ";\n".join(self.log) + ";")

    def run(self, op: str, model_call: Any, name: str, *args: Any, then: Any = None) -> Any:
        """Run one call on the model and on the database and check they agree: both refuse it (with a SQLSTATE
        the model allows, the database unchanged), or both accept it; then the ids the call made are mapped
        (then(model result, database result) for what the return value does not give), the history it appended
        is matched and every balance compared. Returns the model's result, or None when refused."""
        if op in EXCLUDED:
            return None
        LENGTHS[-1] += 1
        key_before = self.model.next_key
        try:
            expected, refusal = model_call(), None
        except Refused as exc:
            expected, refusal = None, exc
        sql = f"SELECT billing.{name}({', '.join(literal(a) for a in args)})"
        try:
            got = self.call(name, *args)
            error = None
        except psycopg.Error as exc:
            got, error = None, exc
        self.log.append(sql + ("" if error is None else f"  -- refused {error.sqlstate}"))
        if refusal is not None and error is None:
            self.fail(f"{sql} was accepted (returned {got}); the model refuses it: {refusal}")
        if refusal is None and error is not None:
            self.fail(f"{sql} was refused ({error.sqlstate}: {error}); the model accepts it")
        if error is not None:
            assert refusal is not None
            if error.sqlstate not in refusal.sqlstates:
                self.fail(f"{sql} was refused with {error.sqlstate} ({error}); the model expects {refusal}")
            if self.read() != self.seen:
                self.fail(f"{sql} was refused ({error.sqlstate}) but changed the database")
            return None
        self.model.check()
        if type(expected) is int and type(got) is int:
            self.db[expected] = got
        if then is not None:
            then(expected, got)
        self.match_history(key_before)
        self.compare()
        return expected

    def match_history(self, key_before: int) -> None:
        """The allocations and write-offs the call appended are the model's new ones: the same source, invoice,
        amount and reversed entry (releases, reversals and re-applied remainders included). Maps their ids."""
        m = self.model
        self.last_allocation = self.match("allocation", self.last_allocation, (
            (a.key, (self.db.get(a.payment), self.db.get(a.credit_note), self.db[a.invoice], a.amount,
                     self.db.get(a.reverses))) for a in m.allocations.values() if a.key >= key_before),
            "payment_id, credit_note_id, invoice_id, amount, reverses_allocation_id")
        self.last_write_off = self.match("write_off", self.last_write_off, (
            (w.key, (self.db[w.invoice], w.amount, self.db.get(w.reverses)))
            for w in m.write_offs.values() if w.key >= key_before), "invoice_id, amount, reverses_write_off_id")

    def match(self, table: str, last: int, model: Any, columns: str) -> int:
        rows = self.conn.execute(f"SELECT {table}_id, {columns} FROM billing.{table}"
                                 f" WHERE customer_id = ANY(%s) AND {table}_id > %s ORDER BY 1",
                                 [self.customers, last]).fetchall()
        want: dict[tuple, list[int]] = {}
        for key, sig in model:
            want.setdefault(sig, []).append(key)
        got: dict[tuple, list[int]] = {}
        for r in rows:
            got.setdefault(tuple(r[1:]), []).append(r[0])
        if {k: len(v) for k, v in want.items()} != {k: len(v) for k, v in got.items()}:
            self.fail(f"{self.log[-1]} appended to {table} ({columns}):\n"
                      f"  database {sorted(got, key=str)}\n  model    {sorted(want, key=str)}")
        for sig, keys in want.items():
            self.db.update(zip(keys, got[sig]))
        return rows[-1][0] if rows else last

    def compare(self) -> None:
        """invoice_summary, payment_summary and customer_balance say what the model says."""
        now = self.read()
        self.seen = now
        want = self.expected()
        for part in ("documents", "payments", "balance"):
            if now[part] != want[part]:
                diff = {k: (now[part].get(k), want[part].get(k)) for k in set(now[part]) | set(want[part])
                        if now[part].get(k) != want[part].get(k)}
                after = self.log[-1] if self.log else "the start"
                self.fail(f"after {after}: {part} differ (id: (database, model)):\n"
                          + "\n".join(f"  {k}: {v}" for k, v in sorted(diff.items(), key=str)))

    # ---- picking documents ----

    def pick(self, keys: Any, customer: int, i: int, how: int, live: Any = lambda k: True,
             wrong_kind: Any = (), prefer: Any = None) -> int | None:
        """How 0-6: one of customer's documents that the call can use (live; 0-2: one it prefers, if any, such as
        a paid invoice to credit); 7: any of customer's (canceled, spent); 8: another customer's; 9: one of the
        wrong kind. None (the step does nothing) if there is none."""
        keys, wrong_kind = list(keys), list(wrong_kind)
        if how == 9:
            pool = wrong_kind
        elif how == 8:
            pool = [k for k in keys if self.model_owner(k) != customer]
        else:
            pool = [k for k in keys if self.model_owner(k) == customer]
            if how < 7:
                pool = [k for k in pool if live(k)]
                if how < 3 and prefer is not None:
                    pool = [k for k in pool if prefer(k)] or pool
        return pool[i % len(pool)] if pool else None

    def settled(self, key: int) -> bool:
        """An invoice that payments or write-offs settle in part: what crediting or voiding must release."""
        inv = self.model.invoices[key]
        return inv.paid > 0 or inv.written_off > 0

    def model_owner(self, key: int) -> int:
        m = self.model
        for table in (m.invoices, m.credit_notes, m.payments, m.allocations, m.write_offs):
            if key in table:
                return table[key].customer
        raise KeyError(key)

    # ---- the operations ----

    @initialize(invoices=st.lists(st.tuples(index, st.sampled_from(CURRENCIES), minor), min_size=2, max_size=6),
                payments=st.lists(st.tuples(index, st.sampled_from(CURRENCIES), minor), min_size=2, max_size=6))
    def some_invoices_and_payments(self, invoices: list[tuple[int, str, int]],
                                   payments: list[tuple[int, str, int]]) -> None:
        """Something to pay, credit, refund and cancel from the first step on."""
        for c, currency, units in invoices:
            self.issue_invoice(c, currency, [units, units // 3 + 1], 1)
        for c, currency, units in payments:
            self.record_payment(c, currency, units, 1)

    @rule(c=index, currency=st.sampled_from(CURRENCIES), lines=st.lists(minor, min_size=1, max_size=3),
          decimals=st.integers(0, 19))
    def issue_invoice(self, c: int, currency: str, lines: list[int], decimals: int) -> None:
        customer = self.customers[c % CUSTOMERS]
        amounts = [money(a, currency) for a in lines]
        if decimals == 0:
            amounts[0] += Decimal(1).scaleb(-MINOR_UNITS[currency] - 1)
        spec = [{"type": "fee", "fee_code": "ADMIN", "amount": a} for a in amounts]
        self.run("issue_invoice", lambda: self.model.issue_invoice(customer, currency, amounts),
                 "issue_new_invoice", customer, currency, Json(spec))

    @rule(c=index, currency=st.sampled_from(CURRENCIES), units=minor, decimals=st.integers(0, 19))
    def record_payment(self, c: int, currency: str, units: int, decimals: int) -> None:
        customer = self.customers[c % CUSTOMERS]
        value = money(units, currency) + (Decimal(1).scaleb(-MINOR_UNITS[currency] - 1) if decimals == 0 else 0)
        self.run("record_payment", lambda: self.model.record_payment(customer, currency, value),
                 "record_payment", customer, currency, value, "CARD")

    @rule(c=index, i=index, pct=st.integers(1, 150), explicit=st.booleans())
    def pay(self, c: int, i: int, pct: int, explicit: bool) -> None:
        """The common case: a payment of pct % of an open invoice comes in and is allocated to it (all that
        fits, or explicitly the payment's amount, which is refused when that is more than is open)."""
        m, customer = self.model, self.customers[c % CUSTOMERS]
        invoice = self.pick(m.invoices, customer, i, 0, lambda k: m.invoices[k].open > 0)
        if invoice is None:
            return
        target = m.invoices[invoice]
        value = money(max(1, minor_units(target.open, target.currency) * pct // 100), target.currency)
        payment = self.run("record_payment", lambda: m.record_payment(customer, target.currency, value),
                           "record_payment", customer, target.currency, value, "BANK_TRANSFER")
        if payment is None:
            return
        given = value if explicit else None
        self.run("allocate_payment", lambda: m.allocate_payment(customer, payment, invoice, given),
                 "allocate_payment", customer, self.db[payment], self.db[invoice], given)

    @rule(c=index, p=index, how_p=slip, i=index, how_i=slip, choice=amount)
    def allocate(self, c: int, p: int, how_p: int, i: int, how_i: int, choice: tuple[str, int]) -> None:
        """allocate_payment; how_p 9: apply_credit_note (a credit note holds nothing under these rules)."""
        m, customer = self.model, self.customers[c % CUSTOMERS]
        if how_p == 9:
            source = self.pick(m.credit_notes, customer, p, 0)
            left = m.credit_notes[source].unapplied if source is not None else ZERO
        else:
            source = self.pick(m.payments, customer, p, how_p, lambda k: m.payments[k].unapplied > 0)
            left = m.payments[source].unapplied if source is not None else ZERO
        if source is None:
            return
        currency = (m.payments.get(source) or m.credit_notes[source]).currency
        invoice = self.pick(m.invoices, customer, i, how_i, lambda k: m.invoices[k].open > 0
                            and m.invoices[k].currency == currency, wrong_kind=m.credit_notes)
        if invoice is None:
            return
        target = m.invoices.get(invoice)
        value = choose(choice, min(left, target.open) if target else left, currency)
        if how_p == 9:
            self.run("apply_credit_note", lambda: m.apply_credit_note(customer, source, invoice, value),
                         "apply_credit_note", customer, self.db[source], self.db[invoice], value)
        else:
            self.run("allocate_payment", lambda: m.allocate_payment(customer, source, invoice, value),
                         "allocate_payment", customer, self.db[source], self.db[invoice], value)

    @rule(c=index, i=index, how=slip, choice=amount)
    def write_off(self, c: int, i: int, how: int, choice: tuple[str, int]) -> None:
        m, customer = self.model, self.customers[c % CUSTOMERS]
        invoice = self.pick(m.invoices, customer, i, how, lambda k: m.invoices[k].open > 0, m.credit_notes)
        if invoice is None:
            return
        target = m.invoices.get(invoice) or m.credit_notes[invoice]
        value = choose(choice, getattr(target, "open", ZERO), target.currency)
        self.run("write_off", lambda: m.write_off(customer, invoice, value),
                     "write_off", customer, self.db[invoice], value)

    @rule(c=index, i=index, how=slip,
          lines=st.none() | st.lists(st.tuples(index, slip, amount), min_size=1, max_size=3))
    def issue_credit_note(self, c: int, i: int, how: int, lines: list[tuple[int, int, tuple[str, int]]] | None) -> None:
        """lines: (line, slip, amount): slip 9 names a line the invoice does not have."""
        m, customer = self.model, self.customers[c % CUSTOMERS]
        invoice = self.pick(m.invoices, customer, i, how, lambda k: m.invoices[k].credited < m.invoices[k].total,
                            m.credit_notes, prefer=self.settled)
        if invoice is None:
            return
        target = m.invoices.get(invoice)
        currency = (target or m.credit_notes[invoice]).currency
        count = len(target.lines) if target else 1
        spec: list[tuple[int, Decimal]] | None = None
        if lines is not None:
            spec = []
            for n, how_n, choice in lines:
                n = count + 1 if how_n == 9 else n % count + 1
                if n in (s[0] for s in spec):
                    continue  # each line once (a line named twice is a malformed argument, 22023)
                left = target.lines[n - 1] - target.credited_lines[n - 1] if target and n <= count else ZERO
                spec.append((n, choose(choice, left, currency, null=False)))
        self.run("issue_credit_note", lambda: m.issue_credit_note(customer, invoice, spec), "issue_credit_note",
                     customer, self.db[invoice],
                     None if spec is None else Json([{"line_no": n, "amount": a} for n, a in spec]),
                     "model")

    @rule(c=index, i=index, how=slip)
    def void_invoice(self, c: int, i: int, how: int) -> None:
        m, customer = self.model, self.customers[c % CUSTOMERS]
        invoice = self.pick(m.invoices, customer, i, how, lambda k: not m.invoices[k].canceled, m.credit_notes,
                            prefer=self.settled)
        if invoice is None:
            return
        self.run("void_invoice", lambda: m.void_invoice(customer, invoice), "void_invoice", customer,
                 self.db[invoice], "model")

    @rule(c=index, currency=st.sampled_from(CURRENCIES), choice=amount, named=st.booleans(), p=index, how=slip)
    def refund(self, c: int, currency: str, choice: tuple[str, int], named: bool, p: int, how: int) -> None:
        """From the customer's payments in the currency of the one picked, or (named) from that one only."""
        m, customer = self.model, self.customers[c % CUSTOMERS]
        payment = self.pick(m.payments, customer, p, how, lambda k: m.payments[k].unapplied > 0)
        if payment is not None and how != 9:
            currency = m.payments[payment].currency  # else the currency drawn, maybe not the payment's
        if not named:
            payment = None
        if payment is None:
            base = sum((x.unapplied for x in m.payments.values() if x.customer == customer and x.currency == currency),
                       ZERO)
        else:
            base = m.payments[payment].unapplied
        if base == 0 and how < 7:
            return  # nothing to pay out: refusals of that kind come with how 7-9
        value = choose(choice, base, currency, null=False)
        def parts(expected: list[tuple[int, Decimal]], refund_id: int) -> None:
            got = self.conn.execute("SELECT payment_id, amount FROM billing.refund_part WHERE customer_id = %s"
                                    " AND refund_id = %s ORDER BY part_no", [customer, refund_id]).fetchall()
            if got != [(self.db[k], a) for k, a in expected]:
                self.fail(f"{self.log[-1]} took (payment, amount) {got}; the model takes "
                          f"{[(self.db[k], a) for k, a in expected]}")

        self.run("refund", lambda: m.refund(customer, currency, value, payment), "refund", customer, currency,
                 value, "BANK_TRANSFER", "model", None if payment is None else self.db[payment], then=parts)

    @rule(c=index, p=index, how=slip)
    def cancel_payment(self, c: int, p: int, how: int) -> None:
        m, customer = self.model, self.customers[c % CUSTOMERS]
        payment = self.pick(m.payments, customer, p, how, lambda k: not m.payments[k].canceled,
                            prefer=lambda k: m.payments[k].allocated > 0 or m.payments[k].refunded > 0)
        if payment is None:
            return
        def returned(invoice: int | None, _: None) -> None:
            if invoice is not None:  # the invoice billing what was refunded out of the bounced payment
                new = [i for (i,) in self.conn.execute(
                    "SELECT invoice_id FROM billing.invoice WHERE customer_id = %s AND kind = 'invoice'"
                    " AND status = 'issued' AND NOT invoice_id = ANY(%s)",
                    [customer, [self.db[k] for k in m.invoices if k in self.db]])]
                if len(new) != 1:
                    self.fail(f"{self.log[-1]} issued invoices {new}; the model one, of {m.invoices[invoice].total}")
                self.db[invoice] = new[0]

        self.run("cancel_payment", lambda: m.cancel_payment(customer, payment), "cancel_payment", customer,
                 self.db[payment], "model", then=returned)

    @rule(c=index, a=index, how=slip)
    def unallocate(self, c: int, a: int, how: int) -> None:
        m, customer = self.model, self.customers[c % CUSTOMERS]

        def live(k: int) -> bool:
            x = m.allocations[k]
            return x.active and x.payment is not None and not m.invoices[x.invoice].canceled

        allocation = self.pick(m.allocations, customer, a, how, live)
        if allocation is None:
            return
        self.run("unallocate", lambda: m.unallocate(customer, allocation), "unallocate", customer,
                     self.db[allocation])


def test_every_ledger_call_agrees_with_the_reference_model(db: psycopg.Connection) -> None:
    class Machine(LedgerMachine):
        conn = db

    run_state_machine_as_test(Machine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, phases=PHASES,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
    assert max(LENGTHS) >= min(100, STEPS // 2), f"no long sequence explored: calls per example {sorted(LENGTHS)[-5:]}"
