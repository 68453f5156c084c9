"""Bulk data for the benchmarks, in set-based SQL (INSERT ... SELECT generate_series), never one call per row.

Loading 1,000,000 invoices through the API would take hours, so the rows are written directly with pgbilling's
triggers (and the foreign keys' internal triggers) off for the session (session_replication_role = replica, which
needs a superuser), and this module fills in what the triggers would have kept: invoice and payment balance rows,
the number series, each customer's own series rows, and, when the hash chain of migration 0016 is installed, the
chain links (appended by the chain's own billing.chain_append, in the order its first-apply backfill uses).
`check` proves the result satisfies the invariants the triggers keep; the tests run it on a tiny load.

Shape of the data. Customers come in groups (`Group`); a customer of a group has `invoices` issued invoices of which
`open` are not fully paid. Paid history is spread evenly over the last three years and paid in payments of up to
ten invoices each (a customer paying a statement); half the open invoices are spread over the same three years
(long overdue), the other half are recent, one a week; every fifth open invoice is half paid. Each invoice has three
lines: a licence fee, a 10 % discount on it and 19 % tax, with their subtype rows. Amounts depend only on the
customer's place in its group and the invoice's place, so two loads with the same open counts have the same open
items whatever their history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

HISTORY_DAYS = 1095
CHAIN_BATCH = 5_000


@dataclass(frozen=True)
class Group:
    """`customers` customers, each with `invoices` issued invoices, `open` of them not fully paid."""

    name: str
    customers: int
    invoices: int = 0
    open: int = 0
    fee: float | None = None  # a fixed licence fee (e.g. large, so payments never exhaust the invoices)

    def __post_init__(self) -> None:
        if not 0 <= self.open <= self.invoices or self.customers < 1:
            raise ValueError(f"group {self.name}: need customers >= 1 and 0 <= open <= invoices")


@dataclass(frozen=True)
class Loaded:
    """What one load wrote: each group's first customer id (its customers are consecutive), and counts."""

    first_customer: dict[str, int]
    invoices: int
    payments: int
    allocations: int
    chain_links: int
    seconds: dict[str, float]


def _reserve(conn: psycopg.Connection, table: str, column: str, count: int) -> int:
    """Reserve `count` consecutive values of an identity column; returns the one before the first."""
    seq = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", [f"billing.{table}", column]).fetchone()[0]
    first = conn.execute("SELECT nextval(%s)", [seq]).fetchone()[0]
    if count > 1:
        conn.execute("SELECT setval(%s, %s)", [seq, first + count - 1])
    return first - 1


def _link(url: str, job: list[tuple[str, str, str, int, int]]) -> int:
    """Append the chain links of id ranges of entries, CHAIN_BATCH a transaction, in id order."""
    linked = 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # chain_link's own rules refuse a client's append
        for table, entry, key, first, total in job:
            for lo in range(first + 1, first + total + 1, CHAIN_BATCH):
                conn.execute(
                    f"SELECT count(billing.chain_append(x.customer_id, x.entry, x.id)) FROM ("  # noqa: S608
                    f" SELECT t.customer_id, {entry} AS entry, t.{key} AS id FROM billing.{table} AS t"
                    f" WHERE t.{key} BETWEEN %s AND %s ORDER BY t.{key}) AS x",
                    [lo, min(lo + CHAIN_BATCH - 1, first + total)],
                )
            linked += total
    return linked


def load(url: str, groups: Sequence[Group], progress: Callable[[str], None] = lambda _: None) -> Loaded:
    """Write the groups' customers, invoices, payments and allocations into the database at `url` (a superuser's)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return _load(conn, url, groups, progress)


def _load(conn: psycopg.Connection, url: str, groups: Sequence[Group], progress: Callable[[str], None]) -> Loaded:
    if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        raise PermissionError("the benchmark's bulk load turns triggers off for its session: it needs a superuser")
    seconds: dict[str, float] = {}
    started = time.monotonic()

    def phase(name: str) -> None:
        nonlocal started
        now = time.monotonic()
        seconds[name] = seconds.get(name, 0.0) + now - started
        started = now
        progress(name)

    conn.execute("SET session_replication_role = replica")
    conn.execute("DROP TABLE IF EXISTS pg_temp.bench_group, pg_temp.bench_invoice, pg_temp.bench_payment")
    first_customer: dict[str, int] = {}
    rows = []
    base = _reserve(conn, "customer", "customer_id", sum(g.customers for g in groups))
    for g in groups:
        first_customer[g.name] = base + 1
        rows.append((g.name, base + 1, g.customers, g.invoices, g.open, g.fee))
        base += g.customers
    conn.execute(
        "CREATE TEMP TABLE bench_group (name text, first_customer bigint, customers int, invoices int, open int,"
        " fee numeric)"
    )
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO bench_group VALUES (%s, %s, %s, %s, %s, %s)", rows)
    conn.execute("""
        INSERT INTO billing.customer (customer_id, name, email, created_at) OVERRIDING SYSTEM VALUE
        SELECT g.first_customer + c, 'bench ' || g.name || ' ' || (c + 1), NULL,
            now() - make_interval(days => %(days)s + 1)
        FROM bench_group AS g, generate_series(0, g.customers - 1) AS c
    """, {"days": HISTORY_DAYS})
    conn.execute("""
        INSERT INTO billing.customer_document_series (customer_id, series, next_no)
        SELECT c.customer_id, s.series, 1
        FROM billing.customer AS c CROSS JOIN billing.document_series AS s
        WHERE c.customer_id BETWEEN (SELECT min(first_customer) FROM bench_group)
            AND (SELECT max(first_customer + customers - 1) FROM bench_group)
    """)
    phase("customers")

    # One row per invoice: its customer, its place j among the customer's paid (p) or open (o) invoices, when it
    # was issued, and the payment group of a paid one (ten per payment). Numbered by issue time, like issuing does.
    conn.execute("""
        CREATE TEMP TABLE bench_invoice AS
        WITH raw AS (
            SELECT g.first_customer + c AS customer_id, c, 'p' AS state, j,
                now() - make_interval(days => %(days)s)
                    + ((j - 0.5) / greatest(g.invoices - g.open, 1))::float8 * make_interval(days => %(days)s - 40)
                    + make_interval(secs => c) AS issued_at,
                g.fee
            FROM bench_group AS g, generate_series(0, g.customers - 1) AS c,
                generate_series(1, g.invoices - g.open) AS j
            UNION ALL
            SELECT g.first_customer + c, c, 'o', j,
                CASE WHEN j <= g.open / 2
                    THEN now() - make_interval(days => 7 * j) + make_interval(secs => c)
                    ELSE now() - make_interval(days => %(days)s)
                        + ((j - g.open / 2 - 0.5) / (g.open - g.open / 2))::float8 * make_interval(days => %(days)s - 60)
                        + make_interval(secs => c)
                END,
                g.fee
            FROM bench_group AS g, generate_series(0, g.customers - 1) AS c, generate_series(1, g.open) AS j
        ), ranked AS (
            SELECT r.*, row_number() OVER (ORDER BY r.issued_at, r.customer_id, r.state, r.j) AS rank
            FROM raw AS r
        )
        SELECT r.customer_id, r.state, r.j, r.issued_at, r.rank,
            round(coalesce(r.fee, 50 + ((r.c * 7919 + r.j * 104729 + ascii(r.state)) %% 90000) / 100.0), 2) AS fee,
            (r.j - 1) / 10 AS pay_group
        FROM ranked AS r
    """, {"days": HISTORY_DAYS})
    count = conn.execute("SELECT count(*) FROM bench_invoice").fetchone()[0]
    invoice_base = _reserve(conn, "invoice", "invoice_id", count)
    next_no = conn.execute(
        "SELECT next_no FROM billing.document_series WHERE series = 'invoice' AND scope = 'global'"
    ).fetchone()
    if next_no is None:
        raise RuntimeError("the benchmark loads invoices numbered in the global series: set its scope to global")
    conn.execute("""
        ALTER TABLE bench_invoice
            ADD COLUMN invoice_id bigint, ADD COLUMN invoice_no text, ADD COLUMN discount numeric,
            ADD COLUMN tax numeric, ADD COLUMN total numeric, ADD COLUMN paid numeric
    """)
    conn.execute("""
        UPDATE bench_invoice AS b SET
            invoice_id = %(base)s + b.rank,
            invoice_no = 'INV-' || lpad((%(no)s + b.rank - 1)::text, greatest(6, length((%(no)s + b.rank - 1)::text)), '0'),
            discount = -round(b.fee * 0.10, 2),
            tax = round((b.fee - round(b.fee * 0.10, 2)) * 0.19, 2)
    """, {"base": invoice_base, "no": next_no[0]})
    conn.execute("""
        UPDATE bench_invoice AS b SET total = b.fee + b.discount + b.tax,
            paid = CASE WHEN b.state = 'p' THEN b.fee + b.discount + b.tax
                WHEN b.j % 5 = 0 THEN round((b.fee + b.discount + b.tax) / 2, 2) ELSE 0 END
    """)
    conn.execute("CREATE INDEX ON bench_invoice (invoice_id)")
    conn.execute("ANALYZE bench_invoice")
    phase("plan invoices")

    conn.execute("""
        INSERT INTO billing.invoice (customer_id, invoice_id, kind, currency, status, invoice_no, issued_at, due_date,
            total, created_at) OVERRIDING SYSTEM VALUE
        SELECT b.customer_id, b.invoice_id, 'invoice', 'EUR', 'issued', b.invoice_no, b.issued_at,
            (b.issued_at + interval '30 days')::date, b.total, b.issued_at - interval '1 hour'
        FROM bench_invoice AS b ORDER BY b.invoice_id
    """)
    conn.execute("""
        INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, kind, line_type, quantity, unit_amount,
            amount, description)
        SELECT b.customer_id, b.invoice_id, l.line_no, 'invoice', l.line_type, 1, NULL, l.amount, l.description
        FROM bench_invoice AS b
        CROSS JOIN LATERAL (VALUES
            (1, 'fee', b.fee, 'Licence fee'),
            (2, 'discount', b.discount, 'Loyalty discount 10 %'),
            (3, 'tax', b.tax, 'Germany, Umsatzsteuer')
        ) AS l (line_no, line_type, amount, description)
        ORDER BY b.invoice_id, l.line_no
    """)
    conn.execute("""
        INSERT INTO billing.invoice_fee_line (customer_id, invoice_id, line_no, line_type, fee_code)
        SELECT b.customer_id, b.invoice_id, 1, 'fee', 'LICENCE' FROM bench_invoice AS b ORDER BY b.invoice_id
    """)
    conn.execute("""
        INSERT INTO billing.invoice_discount_line (customer_id, invoice_id, line_no, line_type, applies_to_line_no)
        SELECT b.customer_id, b.invoice_id, 2, 'discount', 1 FROM bench_invoice AS b ORDER BY b.invoice_id
    """)
    conn.execute("""
        INSERT INTO billing.invoice_tax_line (customer_id, invoice_id, line_no, line_type, tax_code, rate,
            taxable_amount)
        SELECT b.customer_id, b.invoice_id, 3, 'tax', 'DE_VAT', 0.19, b.fee + b.discount
        FROM bench_invoice AS b ORDER BY b.invoice_id
    """)
    conn.execute("""
        INSERT INTO billing.invoice_balance (customer_id, invoice_id, total, credited, allocated, refunded)
        SELECT b.customer_id, b.invoice_id, b.total, 0, b.paid, 0 FROM bench_invoice AS b ORDER BY b.invoice_id
    """)
    conn.execute(
        "UPDATE billing.document_series SET next_no = next_no + %s WHERE series = 'invoice'", [count]
    )
    phase("invoices")

    # Payments: a paid invoice's payment pays its group of up to ten; a half-paid open invoice has its own.
    conn.execute("""
        CREATE TEMP TABLE bench_payment AS
        SELECT b.customer_id, b.state, min(b.j) AS j, sum(b.paid) AS amount,
            least(max(b.issued_at) + interval '3 days', now() - interval '1 hour') AS recorded_at,
            row_number() OVER (ORDER BY least(max(b.issued_at) + interval '3 days', now() - interval '1 hour'),
                b.customer_id, b.state, min(b.j)) AS rank
        FROM bench_invoice AS b
        WHERE b.paid > 0
        GROUP BY b.customer_id, b.state, CASE WHEN b.state = 'p' THEN b.pay_group ELSE b.j END
    """)
    payments = conn.execute("SELECT count(*) FROM bench_payment").fetchone()[0]
    payment_base = _reserve(conn, "payment", "payment_id", payments)
    method = conn.execute("SELECT method_id FROM billing.payment_method WHERE code = 'BANK_TRANSFER'").fetchone()[0]
    conn.execute("ALTER TABLE bench_payment ADD COLUMN payment_id bigint")
    conn.execute("UPDATE bench_payment SET payment_id = %s + rank", [payment_base])
    conn.execute("""
        INSERT INTO billing.payment (customer_id, payment_id, payment_no, currency, amount, method_id, received_at,
            recorded_at, reference) OVERRIDING SYSTEM VALUE
        SELECT p.customer_id, p.payment_id, 'PAY-' || p.payment_id, 'EUR', p.amount, %(method)s,
            p.recorded_at - interval '1 day', p.recorded_at, 'bench'
        FROM bench_payment AS p ORDER BY p.payment_id
    """, {"method": method})
    conn.execute("""
        INSERT INTO billing.payment_balance (customer_id, payment_id, amount, allocated, refunded, voided)
        SELECT p.customer_id, p.payment_id, p.amount, p.amount, 0, 0 FROM bench_payment AS p ORDER BY p.payment_id
    """)
    allocations = conn.execute("SELECT count(*) FROM bench_invoice WHERE paid > 0").fetchone()[0]
    allocation_base = _reserve(conn, "allocation", "allocation_id", allocations)
    conn.execute("""
        INSERT INTO billing.allocation (customer_id, allocation_id, currency, invoice_id, invoice_kind, payment_id,
            credit_note_kind, amount, allocated_at, reason) OVERRIDING SYSTEM VALUE
        SELECT b.customer_id, %(base)s + row_number() OVER (ORDER BY p.payment_id, b.invoice_id), 'EUR',
            b.invoice_id, 'invoice', p.payment_id, 'credit_note', b.paid, p.recorded_at + interval '1 second',
            'bench: paid'
        FROM bench_invoice AS b
        JOIN bench_payment AS p ON p.customer_id = b.customer_id AND p.state = b.state
            AND p.j = CASE WHEN b.state = 'p' THEN b.pay_group * 10 + 1 ELSE b.j END
        WHERE b.paid > 0
    """, {"base": allocation_base})
    phase("payments and allocations")

    links = 0
    if conn.execute("SELECT to_regprocedure('billing.chain_append(bigint, text, bigint)')").fetchone()[0]:
        # Chain order as the chain's own backfill: documents by number; payments, then allocations, by id. The
        # documents' chain and the payments' and allocations' chains are independent: two connections link them.
        jobs = [
            [("invoice", "kind", "invoice_id", invoice_base, count)],
            [("payment", "'payment'", "payment_id", payment_base, payments),
             ("allocation", "'allocation'", "allocation_id", allocation_base, allocations)],
        ]
        with ThreadPoolExecutor(len(jobs)) as pool:
            for done in pool.map(lambda job: _link(url, job), jobs):
                links += done
        phase("hash chain links")
    conn.execute("RESET session_replication_role")
    conn.execute("DROP TABLE bench_group, bench_invoice, bench_payment")
    return Loaded(first_customer, count, payments, allocations, links, seconds)


# Invariants the triggers keep, each a query counting violations (0 is good). Cheap enough for a million invoices.
INVARIANTS = {
    "invoice total = sum of its lines": """
        SELECT count(*) FROM billing.invoice AS i
        LEFT JOIN (SELECT customer_id, invoice_id, sum(amount) AS s FROM billing.invoice_line
            GROUP BY customer_id, invoice_id) AS l USING (customer_id, invoice_id)
        WHERE i.kind = 'invoice' AND i.status = 'issued' AND i.total IS DISTINCT FROM l.s""",
    "issued document has a balance row with its total": """
        SELECT count(*) FROM billing.invoice AS i
        LEFT JOIN billing.invoice_balance AS b USING (customer_id, invoice_id)
        WHERE i.status = 'issued' AND b.total IS DISTINCT FROM i.total""",
    "every line has its subtype row": """
        SELECT count(*) FROM billing.invoice_line AS l
        LEFT JOIN billing.invoice_product_line AS p USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_fee_line AS f USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_discount_line AS d USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_tax_line AS t USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_memo_line AS m USING (customer_id, invoice_id, line_no)
        WHERE coalesce(p.line_no, f.line_no, d.line_no, t.line_no, m.line_no) IS NULL""",
    "numbers gapless: series next_no - 1 = documents numbered in it, each once": """
        SELECT count(*) FROM billing.document_series AS s
        WHERE s.next_no - 1 <> (SELECT count(DISTINCT i.invoice_no) FROM billing.invoice AS i
                WHERE i.kind = s.series AND i.invoice_no ~ ('^' || s.prefix || '-[0-9]+$'))
            OR s.next_no - 1 <> coalesce((SELECT max(substring(i.invoice_no FROM '[0-9]+$')::bigint)
                FROM billing.invoice AS i WHERE i.kind = s.series AND i.invoice_no ~ ('^' || s.prefix || '-[0-9]+$')), 0)""",
    "numbers follow issue time": """
        SELECT count(*) FROM (
            SELECT i.issued_at < lag(i.issued_at) OVER (PARTITION BY i.kind
                ORDER BY substring(i.invoice_no FROM '[0-9]+$')::bigint) AS back
            FROM billing.invoice AS i WHERE i.invoice_no ~ '^[A-Z]+-[0-9]+$') AS x WHERE x.back""",
    "invoice balance allocated = sum of its allocations": """
        SELECT count(*) FROM billing.invoice_balance AS b
        LEFT JOIN (SELECT customer_id, invoice_id, sum(amount) AS s FROM billing.allocation
            GROUP BY customer_id, invoice_id) AS a USING (customer_id, invoice_id)
        JOIN billing.invoice AS i USING (customer_id, invoice_id)
        WHERE i.kind = 'invoice' AND b.allocated <> coalesce(a.s, 0)""",
    "payment balance allocated = sum of its allocations": """
        SELECT count(*) FROM billing.payment_balance AS b
        LEFT JOIN (SELECT customer_id, payment_id, sum(amount) AS s FROM billing.allocation
            WHERE payment_id IS NOT NULL GROUP BY customer_id, payment_id) AS a USING (customer_id, payment_id)
        WHERE b.allocated <> coalesce(a.s, 0)""",
    "no payment over-allocated": """
        SELECT count(*) FROM billing.payment_balance AS b
        WHERE b.allocated + b.refunded + b.voided > b.amount OR b.allocated < 0""",
    "no invoice over-paid": """
        SELECT count(*) FROM billing.invoice_balance AS b WHERE b.allocated + b.refunded > b.total OR b.allocated < 0""",
    "allocation after what it joins was recorded": """
        SELECT count(*) FROM billing.allocation AS a
        JOIN billing.invoice AS i ON i.customer_id = a.customer_id AND i.invoice_id = a.invoice_id
        LEFT JOIN billing.payment AS p ON p.customer_id = a.customer_id AND p.payment_id = a.payment_id
        WHERE a.allocated_at < i.issued_at OR a.allocated_at < p.recorded_at""",
}


def check(conn: psycopg.Connection, chain: bool = False) -> dict[str, int]:
    """Violations per invariant (all 0 when the data is sound); with `chain`, also billing.verify_chain's findings."""
    found = {name: conn.execute(query).fetchone()[0] for name, query in INVARIANTS.items()}
    if chain and conn.execute("SELECT to_regprocedure('billing.verify_chain(bigint)')").fetchone()[0]:
        found["hash chains verify"] = conn.execute("SELECT count(*) FROM billing.verify_chain()").fetchone()[0]
    return found
