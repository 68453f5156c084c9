"""A reference model of pgbilling's ledger in pure Python, written from README's rules (and the rules of the
credit-note release), not from the SQL. tests/test_ledger_model.py drives it and the database with the same
random operations and compares them after every step.

Exact Decimal arithmetic in each currency's minor units. Every operation checks everything first and raises
Refused (naming the SQLSTATEs the database may answer with) before it changes anything, so a refused call
leaves the model as it was, as a refused call must leave the database.

History is append-only as in the database: an allocation or a write-off is reversed by a new entry of the
opposite sign that names it; a settlement released in part is reversed and applied again for the rest.

The rules, as the model states them:
- An invoice's open amount is its total less its allocations (payments and credit notes) and write-offs,
  reversals included; a payment's unapplied credit is its amount less what is allocated, refunded and voided.
- allocate_payment: refused for an amount of 0 or less, with too many decimals, over the payment's unapplied
  credit or the invoice's open amount, in another currency, to a canceled invoice, from a canceled payment, or
  naming another customer's documents; no amount: as much as fits.
- write_off: refused over the open amount, with nothing open, or on a canceled invoice; no amount: all open.
- issue_credit_note: never more than the invoice billed, per line and in all. It settles the open amount first;
  the rest is made room for by releasing the invoice's write-offs, then allocations of credit notes of other
  invoices, then payment allocations, newest first (in part: reversed and applied again for the remainder);
  then it is applied to the invoice in full. A credit note never holds credit; released write-offs vanish,
  released payment allocations are the payments' unapplied credit again.
- void_invoice: refused if canceled already, or credited in full already; releases every payment allocation,
  reverses every write-off, credits all that is not credited yet (that credit note settles it): a canceled
  invoice has nothing open.
- refund: cash out of payments' unapplied credit only (oldest first, or the named payment), never more.
- cancel_payment (a bounce: refused only twice): reverses every allocation of the payment, voids the unapplied
  rest; what was refunded out of it already is billed on a new invoice (fee RETURNED_PAYMENT, README).
- unallocate: once; never a reversal, an allocation to a canceled invoice, or a credit note's allocation to the
  invoice it corrects.
- customer_balance: receivable = open amounts of the customer's invoices; open credit = payments' unapplied
  credit (+ credit notes' unapplied credit, always 0), per currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# billing.currency (migrations/0002_reference_data.sql): the currencies the model knows, with minor units.
MINOR_UNITS: dict[str, int] = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0}

ZERO = Decimal(0)

# SQLSTATEs of README's error table.
CHECK = "23514"  # an amount over what is left or open, of 0 or less, with too many decimals
STATE = "55000"  # a document in the wrong state: canceled, nothing left, a reversal
PARAM = "22023"  # a malformed argument: a credit note amount that is not positive, an unknown line
FOREIGN = "23503"  # another customer's document, another currency, a document of the wrong kind


class Refused(Exception):
    """The call must be refused, with one of sqlstates (README's error table), and change nothing."""

    def __init__(self, sqlstates: set[str] | frozenset[str], why: str) -> None:
        super().__init__(f"{why} (expected SQLSTATE {' or '.join(sorted(sqlstates))})")
        self.sqlstates = frozenset(sqlstates)
        self.why = why


def refuse_if(problems: list[tuple[str, str]]) -> None:
    """Raise Refused when any rule is broken: the database may answer with the SQLSTATE of any of them."""
    if problems:
        raise Refused({s for s, _ in problems}, "; ".join(why for _, why in problems))


def fits(amount: Decimal, currency: str) -> bool:
    """amount has no more decimals than currency allows."""
    return amount == amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))


def money_problems(amount: Decimal, currency: str, what: str) -> list[tuple[str, str]]:
    problems = []
    if amount <= 0:
        problems.append((CHECK, f"{what} {amount} is not positive"))
    if not fits(amount, currency):
        problems.append((CHECK, f"{what} {amount} has more decimals than {currency} allows"))
    return problems


@dataclass
class Invoice:
    key: int
    customer: int
    currency: str
    lines: list[Decimal]  # fee line amounts, line_no = index + 1
    credited_lines: list[Decimal]
    canceled: bool = False
    settled: Decimal = ZERO  # allocations (payments and credit notes) and write-offs, reversals included
    paid: Decimal = ZERO  # payment allocations, reversals included
    written_off: Decimal = ZERO  # write-offs, reversals included

    @property
    def total(self) -> Decimal:
        return sum(self.lines, ZERO)

    @property
    def credited(self) -> Decimal:
        return sum(self.credited_lines, ZERO)

    @property
    def open(self) -> Decimal:
        return self.total - self.settled


@dataclass
class CreditNote:
    key: int
    customer: int
    currency: str
    invoice: int  # the invoice it corrects
    total: Decimal
    allocated: Decimal = ZERO

    @property
    def unapplied(self) -> Decimal:
        return self.total - self.allocated


@dataclass
class Payment:
    key: int
    customer: int
    currency: str
    amount: Decimal
    allocated: Decimal = ZERO
    refunded: Decimal = ZERO
    voided: Decimal = ZERO
    canceled: bool = False

    @property
    def unapplied(self) -> Decimal:
        return self.amount - self.allocated - self.refunded - self.voided


@dataclass
class Allocation:
    key: int
    customer: int
    invoice: int
    payment: int | None
    credit_note: int | None
    amount: Decimal  # negative in a reversal
    reverses: int | None = None
    reversed_by: int | None = None

    @property
    def active(self) -> bool:
        return self.reverses is None and self.reversed_by is None


@dataclass
class WriteOff:
    key: int
    customer: int
    invoice: int
    amount: Decimal
    reverses: int | None = None
    reversed_by: int | None = None

    @property
    def active(self) -> bool:
        return self.reverses is None and self.reversed_by is None


@dataclass
class Ledger:
    """Every customer's documents; keys are the model's own (one counter), in creation order."""

    invoices: dict[int, Invoice] = field(default_factory=dict)
    credit_notes: dict[int, CreditNote] = field(default_factory=dict)
    payments: dict[int, Payment] = field(default_factory=dict)
    allocations: dict[int, Allocation] = field(default_factory=dict)
    write_offs: dict[int, WriteOff] = field(default_factory=dict)
    refunds: list[tuple[int, str, Decimal, list[tuple[int, Decimal]]]] = field(default_factory=list)
    next_key: int = 1

    def _key(self) -> int:
        self.next_key += 1
        return self.next_key - 1

    # ---- history entries: the only places balances change ----

    def _allocate(self, customer: int, invoice: int, payment: int | None, credit_note: int | None,
                  amount: Decimal) -> Allocation:
        a = Allocation(self._key(), customer, invoice, payment, credit_note, amount)
        self.allocations[a.key] = a
        self._book(a, amount)
        return a

    def _reverse_allocation(self, a: Allocation) -> Allocation:
        assert a.active, f"allocation {a.key} reversed twice"
        r = Allocation(self._key(), a.customer, a.invoice, a.payment, a.credit_note, -a.amount, reverses=a.key)
        self.allocations[r.key] = r
        a.reversed_by = r.key
        self._book(r, -a.amount)
        return r

    def _book(self, a: Allocation, amount: Decimal) -> None:
        inv = self.invoices[a.invoice]
        inv.settled += amount
        if a.payment is not None:
            self.payments[a.payment].allocated += amount
            inv.paid += amount
        else:
            self.credit_notes[a.credit_note].allocated += amount  # type: ignore[index]

    def _write_off(self, customer: int, invoice: int, amount: Decimal) -> WriteOff:
        w = WriteOff(self._key(), customer, invoice, amount)
        self.write_offs[w.key] = w
        self.invoices[invoice].settled += amount
        self.invoices[invoice].written_off += amount
        return w

    def _reverse_write_off(self, w: WriteOff) -> WriteOff:
        assert w.active, f"write-off {w.key} reversed twice"
        r = WriteOff(self._key(), w.customer, w.invoice, -w.amount, reverses=w.key)
        self.write_offs[r.key] = r
        w.reversed_by = r.key
        self.invoices[w.invoice].settled -= w.amount
        self.invoices[w.invoice].written_off -= w.amount
        return r

    def check(self) -> None:
        """The model's own invariants (a broken one is a bug of the model, not of the database)."""
        for inv in self.invoices.values():
            assert ZERO <= inv.open <= inv.total, f"invoice {inv.key} open {inv.open} of {inv.total}"
            assert inv.credited <= inv.total
            assert not inv.canceled or inv.open == 0, f"canceled invoice {inv.key} open {inv.open}"
        for cn in self.credit_notes.values():
            assert cn.unapplied == 0, f"credit note {cn.key} holds {cn.unapplied} of credit"
        for p in self.payments.values():
            assert p.unapplied >= 0 and p.allocated >= 0, f"payment {p.key}: {p}"
            assert not p.canceled or p.unapplied == 0

    # ---- looking documents up, as the database does: the customer's, else unknown (23503) ----
    # Every check is made whatever else is wrong: the database may name any broken rule first, so the model
    # lists all of them and accepts the SQLSTATE of any.

    def _own(self, table: dict, key: int | None, customer: int, what: str) -> list[tuple[str, str]]:
        doc = table.get(key)  # type: ignore[arg-type]
        if doc is None:
            return [(FOREIGN, f"{what} {key} is unknown or of another kind")]
        if doc.customer != customer:
            return [(FOREIGN, f"{what} {key} belongs to customer {doc.customer}, not {customer}")]
        return []

    def _document(self, key: int) -> Invoice | CreditNote | None:
        return self.invoices.get(key) or self.credit_notes.get(key)

    # ---- the API ----

    def issue_invoice(self, customer: int, currency: str, lines: list[Decimal]) -> int:
        """billing.issue_new_invoice with fee lines."""
        problems = []
        for n, amount in enumerate(lines, 1):
            problems += money_problems(amount, currency, f"fee line {n}")
        refuse_if(problems)
        inv = Invoice(self._key(), customer, currency, list(lines), [ZERO] * len(lines))
        self.invoices[inv.key] = inv
        return inv.key

    def record_payment(self, customer: int, currency: str, amount: Decimal) -> int:
        refuse_if(money_problems(amount, currency, "payment"))
        p = Payment(self._key(), customer, currency, amount)
        self.payments[p.key] = p
        return p.key

    def _allocation(self, customer: int, source: Payment | CreditNote | None, left: Decimal, invoice: int,
                    amount: Decimal | None, problems: list[tuple[str, str]]) -> Decimal:
        """The problems of allocating amount (None: as much as fits) of source's left to invoice; the amount."""
        problems += self._own(self.invoices, invoice, customer, "invoice")
        inv, target = self.invoices.get(invoice), self._document(invoice)
        if source is not None and target is not None and target.currency != source.currency:
            problems.append((FOREIGN, f"invoice in {target.currency}, credit in {source.currency}"))
        if inv is not None and inv.canceled:
            problems.append((STATE, "invoice is canceled"))
        if amount is None:
            amount = min(left, inv.open) if inv is not None else left
            if amount <= 0:
                # Nothing left to allocate: 55000 by README; 23514 (an allocation of 0) is as right.
                problems += [(STATE, "nothing to allocate"), (CHECK, "an allocation of 0")]
            return amount
        if source is not None:
            problems += money_problems(amount, source.currency, "allocation")
        if amount > left:
            problems.append((CHECK, f"allocation {amount} > {left} left"))
        if inv is not None and amount > inv.open:
            problems.append((CHECK, f"allocation {amount} > invoice open {inv.open}"))
        return amount

    def allocate_payment(self, customer: int, payment: int, invoice: int, amount: Decimal | None) -> int:
        problems = self._own(self.payments, payment, customer, "payment")
        p = self.payments.get(payment)
        if p is not None and p.canceled:
            problems.append((STATE, "payment is canceled"))
        amount = self._allocation(customer, p, p.unapplied if p else ZERO, invoice, amount, problems)
        refuse_if(problems)
        return self._allocate(customer, invoice, payment, None, amount).key

    def apply_credit_note(self, customer: int, credit_note: int, invoice: int, amount: Decimal | None) -> int:
        problems = self._own(self.credit_notes, credit_note, customer, "credit note")
        cn = self.credit_notes.get(credit_note)
        if cn is not None and cn.unapplied == 0:
            problems.append((STATE, "the credit note has nothing left to apply"))
        amount = self._allocation(customer, cn, cn.unapplied if cn else ZERO, invoice, amount, problems)
        refuse_if(problems)
        return self._allocate(customer, invoice, None, credit_note, amount).key

    def write_off(self, customer: int, invoice: int, amount: Decimal | None) -> int:
        problems = self._own(self.invoices, invoice, customer, "invoice")
        inv, target = self.invoices.get(invoice), self._document(invoice)
        if inv is not None and inv.canceled:
            problems.append((STATE, "invoice is canceled"))
        if target is not None and inv is None:
            problems += [(STATE, "writing off a credit note"), (CHECK, "a credit note has nothing open")]
        if amount is None:
            amount = inv.open if inv is not None else ZERO
            if amount == 0:
                problems.append((STATE, "nothing open to write off"))
        else:
            if target is not None:
                problems += money_problems(amount, target.currency, "write-off")
            if inv is not None and amount > inv.open:
                problems.append((CHECK, f"write-off {amount} > open {inv.open}"))
        refuse_if(problems)
        return self._write_off(customer, invoice, amount).key

    def issue_credit_note(self, customer: int, invoice: int, lines: list[tuple[int, Decimal]] | None) -> int:
        """lines: [(line_no, amount)], or None for everything not yet credited."""
        problems = self._own(self.invoices, invoice, customer, "invoice")
        inv, target = self.invoices.get(invoice), self._document(invoice)
        if target is not None and inv is None:
            problems.append((STATE, "crediting a credit note"))
        if inv is not None and inv.canceled:
            problems.append((STATE, "invoice is canceled"))  # it is credited in full: 23514 as right
        amounts = [ZERO] * (len(inv.lines) if inv else 0)
        if lines is None:
            if inv is not None:
                amounts = [line - credited for line, credited in zip(inv.lines, inv.credited_lines)]
                if sum(amounts) == 0:
                    problems += [(STATE, "nothing left to credit"), (CHECK, "crediting more than was invoiced")]
        else:
            for n, amount in lines:
                if amount <= 0:
                    problems.append((PARAM, f"credit amount {amount} of line {n} is not positive"))
                    continue
                if target is not None and not fits(amount, target.currency):
                    problems.append((CHECK, f"credit amount {amount} has more decimals than {target.currency} allows"))
                if inv is not None and not 1 <= n <= len(inv.lines):
                    problems += [(FOREIGN, f"invoice has no line {n}"), (PARAM, f"invoice has no line {n}")]
                    continue
                if inv is not None:
                    amounts[n - 1] += amount
            if inv is not None:
                for n, amount in enumerate(amounts, 1):
                    if inv.credited_lines[n - 1] + amount > inv.lines[n - 1]:
                        problems.append((CHECK, f"line {n}: crediting {amount}, "
                                                f"{inv.lines[n - 1] - inv.credited_lines[n - 1]} left"))
        refuse_if(problems)
        assert inv is not None
        return self._credit(inv, amounts).key

    def _credit(self, inv: Invoice, amounts: list[Decimal]) -> CreditNote:
        total = sum(amounts, ZERO)
        cn = CreditNote(self._key(), inv.customer, inv.currency, inv.key, total)
        self.credit_notes[cn.key] = cn
        for n, amount in enumerate(amounts):
            inv.credited_lines[n] += amount
        # It settles what is open first; the rest is made room for by releasing the invoice's settlements.
        self._release(inv, total - min(total, inv.open))
        if total > 0:
            self._allocate(inv.customer, inv.key, None, cn.key, total)
        return cn

    def _release(self, inv: Invoice, amount: Decimal) -> None:
        """Make room for amount on inv: write-offs, then credit notes of other invoices applied to it, then
        payment allocations, each newest first; a partial release reverses and applies the rest again."""
        if amount <= 0:
            return
        write_offs = sorted((w for w in self.write_offs.values() if w.invoice == inv.key and w.active),
                            key=lambda w: -w.key)
        allocations = [a for a in self.allocations.values() if a.invoice == inv.key and a.active]
        from_credit_notes = sorted((a for a in allocations if a.credit_note is not None
                                    and self.credit_notes[a.credit_note].invoice != inv.key), key=lambda a: -a.key)
        from_payments = sorted((a for a in allocations if a.payment is not None), key=lambda a: -a.key)
        left = amount
        for w in write_offs:
            if left == 0:
                break
            take = min(left, w.amount)
            self._reverse_write_off(w)
            if take < w.amount:
                self._write_off(w.customer, w.invoice, w.amount - take)
            left -= take
        for a in from_credit_notes + from_payments:
            if left == 0:
                break
            take = min(left, a.amount)
            self._reverse_allocation(a)
            if take < a.amount:
                self._allocate(a.customer, a.invoice, a.payment, a.credit_note, a.amount - take)
            left -= take
        assert left == 0, f"invoice {inv.key}: {left} of the credit note found no settlement to release"

    def void_invoice(self, customer: int, invoice: int) -> int:
        """Returns the void credit note."""
        problems = self._own(self.invoices, invoice, customer, "invoice")
        inv, target = self.invoices.get(invoice), self._document(invoice)
        if target is not None and inv is None:
            problems.append((STATE, "voiding a credit note"))
        if inv is not None and inv.canceled:
            problems.append((STATE, "invoice is canceled already"))
        if inv is not None and inv.credited == inv.total:
            problems.append((STATE, "credit notes took it back in full already: nothing is left to void"))
        refuse_if(problems)
        assert inv is not None
        for a in sorted(self.allocations.values(), key=lambda a: a.key):
            if a.invoice == inv.key and a.active and a.payment is not None:
                self._reverse_allocation(a)
        for w in sorted(self.write_offs.values(), key=lambda w: w.key):
            if w.invoice == inv.key and w.active:
                self._reverse_write_off(w)
        cn = self._credit(inv, [line - credited for line, credited in zip(inv.lines, inv.credited_lines)])
        inv.canceled = True
        return cn.key

    def refund(self, customer: int, currency: str, amount: Decimal, payment: int | None) -> list[tuple[int, Decimal]]:
        """Pays cash out of payments' unapplied credit, oldest first (or the named payment only). Returns the parts."""
        problems = money_problems(amount, currency, "refund")
        if payment is not None:
            problems += self._own(self.payments, payment, customer, "payment")
            p = self.payments.get(payment)
            if p is not None and p.currency != currency:
                problems.append((FOREIGN, f"payment in {p.currency}, refund in {currency}"))
            if p is not None and p.canceled:
                problems.append((STATE, "payment is canceled"))
            usable = p is not None and p.customer == customer and p.currency == currency and p.unapplied > 0
            sources = [p] if usable else []
        else:
            sources = [p for p in sorted(self.payments.values(), key=lambda p: p.key)
                       if p.customer == customer and p.currency == currency and p.unapplied > 0]
        there = sum((p.unapplied for p in sources), ZERO)
        if amount > there:
            problems.append((CHECK, f"refund {amount} > {there} of payments' open credit"))
        refuse_if(problems)
        parts, left = [], amount
        for p in sources:
            if left == 0:
                break
            take = min(left, p.unapplied)
            p.refunded += take
            parts.append((p.key, take))
            left -= take
        self.refunds.append((customer, currency, amount, parts))
        return parts

    def cancel_payment(self, customer: int, payment: int) -> int | None:
        """A bounce: never refused but twice. What was refunded out of the payment left as cash that never came
        in: the customer owes it, billed on a new invoice (fee RETURNED_PAYMENT), returned here (None if nothing)."""
        problems = self._own(self.payments, payment, customer, "payment")
        p = self.payments.get(payment)
        if p is not None and p.canceled:
            problems.append((STATE, "payment is canceled already"))
        refuse_if(problems)
        assert p is not None
        for a in sorted(self.allocations.values(), key=lambda a: a.key):
            if a.payment == payment and a.active:
                # Under these rules no payment allocation stands on a canceled invoice (voiding released them).
                assert not self.invoices[a.invoice].canceled, f"payment {payment} still pays canceled {a.invoice}"
                self._reverse_allocation(a)
        p.voided = p.amount - p.allocated - p.refunded
        p.canceled = True
        if p.refunded > 0:
            return self.issue_invoice(customer, p.currency, [p.refunded])
        return None

    def unallocate(self, customer: int, allocation: int) -> int:
        problems = self._own(self.allocations, allocation, customer, "allocation")
        a = self.allocations.get(allocation)
        if a is not None:
            if a.reverses is not None:
                problems += [(STATE, "a reversal cannot be reversed"), (PARAM, "a reversal cannot be reversed")]
            elif a.reversed_by is not None:
                problems.append((STATE, "reversed already"))
            if self.invoices[a.invoice].canceled:
                problems.append((STATE, "the invoice is canceled: its void credit note settles it"))
            if a.credit_note is not None and self.credit_notes[a.credit_note].invoice == a.invoice:
                # A credit note is always wholly applied to the invoice it corrects (it never holds credit).
                problems.append((STATE, "a credit note's application to the invoice it corrects stands"))
        refuse_if(problems)
        assert a is not None
        return self._reverse_allocation(a).key

    # ---- what the views show ----

    def invoice_row(self, key: int) -> dict[str, object]:
        """invoice_summary's columns for an invoice."""
        inv = self.invoices[key]
        return {"kind": "invoice", "total": inv.total, "credited": inv.credited, "paid": inv.paid,
                "written_off": inv.written_off, "open_amount": inv.open, "is_canceled": inv.canceled}

    def credit_note_row(self, key: int) -> dict[str, object]:
        cn = self.credit_notes[key]
        return {"kind": "credit_note", "total": cn.total, "credited": ZERO, "paid": ZERO, "written_off": ZERO,
                "open_amount": cn.unapplied, "is_canceled": False}

    def payment_row(self, key: int) -> dict[str, object]:
        """payment_summary's columns."""
        p = self.payments[key]
        return {"amount": p.amount, "allocated": p.allocated, "refunded": p.refunded, "unallocated": p.unapplied,
                "is_canceled": p.canceled}

    def customer_balance(self, customer: int) -> dict[str, tuple[Decimal, Decimal]]:
        """customer_balance: per currency (receivable, open credit), only currencies with something open."""
        receivable: dict[str, Decimal] = {}
        credit: dict[str, Decimal] = {}
        for inv in self.invoices.values():
            if inv.customer == customer:
                receivable[inv.currency] = receivable.get(inv.currency, ZERO) + inv.open
        for p in self.payments.values():
            if p.customer == customer:
                credit[p.currency] = credit.get(p.currency, ZERO) + p.unapplied
        for cn in self.credit_notes.values():
            if cn.customer == customer:
                credit[cn.currency] = credit.get(cn.currency, ZERO) + cn.unapplied
        return {c: (receivable.get(c, ZERO), credit.get(c, ZERO)) for c in set(receivable) | set(credit)
                if receivable.get(c, ZERO) or credit.get(c, ZERO)}
