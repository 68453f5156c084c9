"""Accountant reports: open items and aging (now and as of a past moment), statements, tax, revenue, unapplied cash,
each against figures worked out by hand, and `pgbilling report` printing them as a table, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import date, timedelta

import psycopg
from helpers import D, Api, refused, run_together, triggers_off, wait_until_blocked
from test_runner import cli

HISTORY = {  # table: the times point-in-time reports go by
    "invoice": "issued_at", "payment": "recorded_at", "allocation": "allocated_at", "write_off": "written_off_at",
    "refund": "recorded_at", "payment_cancellation": "recorded_at",
}


def move_history_back(db: psycopg.Connection, customer: int, days: int) -> None:
    """Make everything customer did so far look recorded `days` earlier (the triggers that refuse changes to
    history are off for this session only), so one test can hold several days."""
    with triggers_off(db):
        for table, column in HISTORY.items():  # (in UTC: Citus takes no time-zone-dependent arithmetic in an UPDATE)
            db.execute(f"UPDATE billing.{table} SET {column} = ({column} AT TIME ZONE 'UTC' - %s * interval '1 day')"
                       " AT TIME ZONE 'UTC' WHERE customer_id = %s", [days, customer])


def fee_invoice(api: Api, c: int, amount: object, due: date | None = None, currency: str = "EUR") -> int:
    inv = api.create_invoice(c, currency, due)
    api.add_fee_line(c, inv, "ADMIN", amount)
    api.issue_invoice(c, inv)
    return inv


def aging_book(api: Api, shop: dict[str, int], today: date) -> dict[str, int]:
    """One invoice per aging bucket and every way an amount gets settled, for shop's customer (EUR and USD)
    and one invoice of the other customer. Figures in test_ar_aging_buckets_open_invoices_by_days_past_due."""
    c, other = shop["customer"], shop["other"]
    day = lambda n: today + timedelta(days=n)  # noqa: E731
    ids = {name: fee_invoice(api, c, amount, day(n)) for name, amount, n in (
        ("future", 100, 10), ("today", 200, 0), ("late_1", 300, -1), ("late_45", 400, -45),
        ("late_75", 500, -75), ("late_120", 600, -120), ("disputed", 700, -5), ("paid", 800, -200),
        ("voided", 900, -100))}
    api.allocate_payment(c, api.record_payment(c, "EUR", 50, "CARD"), ids["today"])  # 150 left
    api.issue_credit_note(c, ids["late_45"], [{"line_no": 1, "amount": 40}])  # applied to it: 360 left
    api.write_off(c, ids["late_75"], 100, "settlement")  # 400 left
    api.dispute_invoice(c, ids["disputed"], "not delivered")  # disputed, still receivable
    api.allocate_payment(c, api.record_payment(c, "EUR", 800, "BANK_TRANSFER"), ids["paid"])
    api.issue_credit_note(c, ids["paid"], [{"line_no": 1, "amount": 200}])  # on a paid invoice: 200 back to the payment
    api.void_invoice(c, ids["voided"], "wrong customer")
    ids["unapplied"] = api.record_payment(c, "EUR", 70, "CASH")  # open credit 70
    api.refund(c, "EUR", 30, "CASH")  # open credit 270 - 30
    ids["usd"] = fee_invoice(api, c, 55, day(1), "USD")
    ids["other"] = fee_invoice(api, other, 10, day(-31))
    return ids


AGING_COLUMNS = "customer_id, currency, not_due, days_1_30, days_31_60, days_61_90, days_over_90, receivable, open_credit, net"


def aging(db: psycopg.Connection, as_of: object = None) -> list[tuple]:
    call = "billing.ar_aging()" if as_of is None else "billing.ar_aging(%s)"
    return db.execute(f"SELECT {AGING_COLUMNS} FROM {call}", [] if as_of is None else [as_of]).fetchall()


def open_items(db: psycopg.Connection, as_of: object) -> list[tuple]:
    return db.execute("SELECT customer_id, currency, kind, document_id, open_amount FROM billing.open_items(%s)",
                      [as_of]).fetchall()


def test_ar_aging_buckets_open_invoices_by_days_past_due(db, api, shop) -> None:
    c, other = shop["customer"], shop["other"]
    aging_book(api, shop, db.execute("SELECT current_date").fetchone()[0])
    assert aging(db) == [
        # not due: 100 + 150 paid down; 1-30: 300 + 700 disputed; 31-60: 400 - 40 credited; 61-90: 500 - 100
        # written off; over 90: 600; the paid and the voided invoice are gone. Open credit: 70 + 200 - 30 refunded.
        (c, "EUR", 250, 1000, 360, 400, 600, 2610, 240, 2370),
        (c, "USD", 55, 0, 0, 0, 0, 55, 0, 55),
        (other, "EUR", 0, 0, 10, 0, 0, 10, 0, 10),
    ]
    assert [(r[0], r[1], r[2] - r[3]) for r in db.execute(
        "SELECT customer_id, currency, receivable, open_credit FROM billing.customer_balance ORDER BY 1, 2")] == [
        (r[0], r[1], r[9]) for r in aging(db)]


def test_open_items_lists_each_open_invoice_and_credit_signed(db, api, shop) -> None:
    c = shop["customer"]
    ids = aging_book(api, shop, db.execute("SELECT current_date").fetchone()[0])
    items = db.execute("SELECT kind, document_id, amount, open_amount FROM billing.open_items()"
                       " WHERE customer_id = %s AND currency = 'EUR' ORDER BY kind, document_id", [c]).fetchall()
    transfer = db.execute("SELECT payment_id FROM billing.payment WHERE customer_id = %s AND amount = 800", [c]).fetchone()[0]
    # The credit note on the paid invoice settles it and gives the transfer 200 back; the refund took 30 from the
    # oldest open credit, that transfer. Credit notes hold no credit of their own.
    assert items == [
        *[("invoice", ids[n], D(a), D(o)) for n, a, o in (
            ("future", 100, 100), ("today", 200, 150), ("late_1", 300, 300), ("late_45", 400, 360),
            ("late_75", 500, 400), ("late_120", 600, 600), ("disputed", 700, 700))],
        ("payment", transfer, -800, -170),
        ("payment", ids["unapplied"], -70, -70),
    ]


def test_reports_as_of_yesterday_do_not_change_when_today_adds_documents_and_allocations(db, api, shop) -> None:
    c = shop["customer"]
    today = db.execute("SELECT current_date").fetchone()[0]
    ids = aging_book(api, shop, today - timedelta(days=1))
    move_history_back(db, c, 1)
    move_history_back(db, shop["other"], 1)
    midnight = db.execute("SELECT current_date::timestamptz").fetchone()[0]
    yesterday = (aging(db, midnight), open_items(db, midnight),
                 db.execute("SELECT * FROM billing.customer_statement(%s, %s, %s)", [c, today - timedelta(days=1),
                                                                                     today - timedelta(days=1)]).fetchall())
    assert yesterday[0] == aging(db) and yesterday[1] == open_items(db, "infinity")  # nothing happened since

    # Today: every kind of event touches yesterday's open items.
    fee_invoice(api, c, 5000, today)
    api.write_off(c, ids["late_75"])
    payment = api.record_payment(c, "EUR", 1000, "CARD")
    db.execute("SELECT * FROM billing.auto_allocate(%s, %s, 'oldest')", [c, payment])
    api.void_invoice(c, ids["late_1"], "duplicate")
    api.allocate_payment(c, ids["unapplied"], ids["future"], 30)
    api.cancel_payment(c, ids["unapplied"], "bounced")  # reverses the 30, voids 70
    api.issue_credit_note(c, ids["disputed"], [{"line_no": 1, "amount": 100}])
    api.refund(c, "EUR", 20, "CASH")
    api.cancel_payment(c, payment, "charged back")
    fee_invoice(api, shop["other"], 1, today)

    assert aging(db) != yesterday[0], "today's events changed nothing: the comparison below would prove nothing"
    assert (aging(db, midnight), open_items(db, midnight)) == yesterday[:2]
    assert db.execute("SELECT * FROM billing.customer_statement(%s, %s, %s)",
                      [c, today - timedelta(days=1), today - timedelta(days=1)]).fetchall() == yesterday[2]


def test_customer_statement_runs_the_balance_from_the_opening_to_the_closing(db, api, shop) -> None:
    c = shop["customer"]
    today = db.execute("SELECT current_date").fetchone()[0]
    x = fee_invoice(api, c, 100)
    p = api.record_payment(c, "EUR", 60, "CARD")
    api.allocate_payment(c, p, x)
    move_history_back(db, c, 10)
    y = fee_invoice(api, c, 50)
    cn = api.issue_credit_note(c, x, [{"line_no": 1, "amount": 10}], "damaged")  # applied to x: 30 left
    api.write_off(c, y, 5, "rounding")
    q = api.record_payment(c, "EUR", 100, "BANK_TRANSFER")
    db.execute("SELECT * FROM billing.auto_allocate(%s, %s, 'oldest')", [c, q])  # x 30, y 45: 25 left
    api.refund(c, "EUR", 20, "BANK_TRANSFER", "overpaid")
    r = api.record_payment(c, "EUR", 15, "CASH")
    api.cancel_payment(c, r, "counterfeit")
    no = dict(db.execute("SELECT invoice_id, invoice_no FROM billing.invoice WHERE customer_id = %s", [c]).fetchall())
    pay = dict(db.execute("SELECT payment_id, payment_no FROM billing.payment WHERE customer_id = %s", [c]).fetchall())

    def statement(start: date, end: date) -> list[tuple]:
        return db.execute("SELECT entry, document_no, applied_to, amount, applied, balance, note"
                          " FROM billing.customer_statement(%s, %s, %s)", [c, start, end]).fetchall()

    assert statement(today - timedelta(days=5), today) == [
        ("opening_balance", None, None, None, None, 40, None),
        ("invoice", no[y], None, 50, None, 90, None),
        ("credit_note", no[cn], None, -10, None, 80, "damaged"),
        ("allocation", no[cn], no[x], 0, 10, 80, "credit note applied to the invoice it corrects"),
        ("write_off", no[y], None, -5, None, 75, "rounding"),
        ("payment", pay[q], None, -100, None, -25, None),
        ("allocation", pay[q], no[x], 0, 30, -25, "auto: oldest first"),
        ("allocation", pay[q], no[y], 0, 45, -25, "auto: oldest first"),
        ("refund", None, None, 20, None, -5, "overpaid"),
        ("payment", pay[r], None, -15, None, -20, None),
        ("payment_canceled", pay[r], None, 15, None, -5, "counterfeit"),
        ("closing_balance", None, None, None, None, -5, None),
    ]
    assert db.execute("SELECT net FROM billing.customer_balance WHERE customer_id = %s", [c]).fetchall() == [(-5,)]
    assert statement(today - timedelta(days=20), today - timedelta(days=5)) == [
        ("opening_balance", None, None, None, None, 0, None),
        ("invoice", no[x], None, 100, None, 100, None),
        ("payment", pay[p], None, -60, None, 40, None),
        ("allocation", pay[p], no[x], 0, 60, 40, None),
        ("closing_balance", None, None, None, None, 40, None),
    ]
    assert statement(today - timedelta(days=30), today - timedelta(days=20)) == [], "no history yet: no currency"


def tax_and_revenue_book(api: Api, db: psycopg.Connection, shop: dict[str, int]) -> None:
    c, other = shop["customer"], shop["other"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 50},
                                       {"sku": "B-2", "quantity": 1, "unit_price": 30}])
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 2)  # line 1: 100
    api.add_product_line(c, inv, order, 2, 1)  # line 2: 30
    api.add_fee_line(c, inv, "SHIPPING", 10)  # line 3
    api.add_discount_line(c, inv, 5, "loyalty")  # line 4: -5
    api.add_tax_line(c, inv, "DE_VAT", D("0.19"))  # line 5: 19 % of 135 = 25.65
    api.issue_invoice(c, inv)
    # 50 off line 1: the loyalty discount goes back in share (5 x 50 / 140 = 1.79), the tax on what is left of
    # that (25.65 x 48.21 / 135 = 9.16)
    api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 50}])
    second = api.create_invoice(c, "EUR")
    api.add_fee_line(c, second, "ADMIN", 20)
    api.add_tax_line(c, second, "DE_VAT", D("0.07"), 20)  # 1.40
    api.issue_invoice(c, second)
    usd = api.create_invoice(c, "USD")
    api.add_fee_line(c, usd, "LICENCE", 100)
    api.add_tax_line(c, usd, "US_NY", D("0.08"))  # 8.00
    api.add_memo_line(c, usd, "thank you")
    api.issue_invoice(c, usd)
    earlier = api.create_invoice(other, "EUR")  # issued three days ago
    api.add_fee_line(other, earlier, "LATE", 4)
    api.add_tax_line(other, earlier, "FR_VAT", D("0.2"))  # 0.80
    api.issue_invoice(other, earlier)
    move_history_back(db, other, 3)


def test_tax_summary_nets_invoiced_tax_against_credit_notes_per_authority_and_rate(db, api, shop) -> None:
    tax_and_revenue_book(api, db, shop)
    today = db.execute("SELECT current_date").fetchone()[0]
    columns = "tax_code, authority, rate, currency, taxable_invoiced, tax_invoiced, taxable_credited, tax_credited, " \
              "net_taxable, net_tax"
    summary = lambda start, end: db.execute(f"SELECT {columns} FROM billing.tax_summary(%s, %s)",  # noqa: E731
                                            [start, end]).fetchall()
    assert summary(today, today) == [
        ("DE_VAT", "Germany, Umsatzsteuer", D("0.07"), "EUR", 20, D("1.40"), 0, 0, 20, D("1.40")),
        # 9.16 of 25.65 tax credited takes back the same share of the 135 base: 48.21
        ("DE_VAT", "Germany, Umsatzsteuer", D("0.19"), "EUR", 135, D("25.65"), D("48.21"), D("9.16"), D("86.79"), D("16.49")),
        ("US_NY", "New York State sales tax", D("0.08"), "USD", 100, D("8.00"), 0, 0, 100, D("8.00")),
    ]
    three_days_ago = today - timedelta(days=3)
    assert summary(three_days_ago, three_days_ago) == [("FR_VAT", "France, TVA", D("0.2"), "EUR", 4, D("0.80"), 0, 0, 4, D("0.80"))]
    assert summary(three_days_ago, today) == sorted(summary(today, today) + summary(three_days_ago, three_days_ago))
    assert summary(today - timedelta(days=2), today - timedelta(days=1)) == []


def test_revenue_by_line_type_is_net_of_credit_notes_and_leaves_out_tax_and_memos(db, api, shop) -> None:
    tax_and_revenue_book(api, db, shop)
    today = db.execute("SELECT current_date").fetchone()[0]
    assert db.execute("SELECT * FROM billing.revenue_by_line_type(%s, %s)", [today, today]).fetchall() == [
        ("EUR", "discount", None, -5, D("-1.79"), D("-3.21")),
        ("EUR", "fee", "ADMIN", 20, 0, 20),
        ("EUR", "fee", "SHIPPING", 10, 0, 10),
        ("EUR", "product", None, 130, 50, 80),
        ("USD", "fee", "LICENCE", 100, 0, 100),
    ]
    assert db.execute("SELECT * FROM billing.revenue_by_line_type(%s, %s)", [today - timedelta(days=3), today - timedelta(days=3)]).fetchall() == [
        ("EUR", "fee", "LATE", 4, 0, 4)]


def test_unapplied_cash_lists_payments_with_money_left(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 100)
    partly = api.record_payment(c, "EUR", 130, "CARD")
    api.allocate_payment(c, partly, inv)
    api.allocate_payment(c, api.record_payment(c, "EUR", 10, "CASH"), fee_invoice(api, c, 10))
    refunded = api.record_payment(c, "EUR", 5, "CASH")
    api.refund(c, "EUR", 5, "CASH", None, refunded)
    api.cancel_payment(c, api.record_payment(c, "EUR", 7, "CASH"), "bounced")
    assert db.execute("SELECT customer_id, customer_name, payment_id, method, amount, unapplied"
                      " FROM billing.unapplied_cash").fetchall() == [(c, "Alice", partly, "CARD", 130, 30)]


def test_reports_refuse_bad_arguments_with_a_documented_sqlstate(db, api, shop) -> None:
    c = shop["customer"]
    fee_invoice(api, c, 1)
    refused(db, "22004", "SELECT * FROM billing.open_items(NULL)")
    refused(db, "22004", "SELECT * FROM billing.ar_aging(NULL)")
    refused(db, "22023", "SELECT * FROM billing.ar_aging('infinity')")
    refused(db, "22004", "SELECT * FROM billing.customer_statement(NULL, current_date, current_date)")
    refused(db, "22004", "SELECT * FROM billing.customer_statement(%s, NULL, current_date)", [c])
    refused(db, "23503", "SELECT * FROM billing.customer_statement(-1, current_date, current_date)")
    refused(db, "22023", "SELECT * FROM billing.customer_statement(%s, current_date, current_date - 1)", [c])
    refused(db, "22023", "SELECT * FROM billing.tax_summary(current_date, current_date - 1)")
    refused(db, "22004", "SELECT * FROM billing.tax_summary(current_date, NULL)")
    refused(db, "22023", "SELECT * FROM billing.revenue_by_line_type(current_date + 1, current_date)")
    refused(db, "22023", "SELECT * FROM billing.customer_statement(%s, current_date, '5874897-12-31')", [c])
    refused(db, "22023", "SELECT * FROM billing.tax_summary('-infinity', current_date)")


def test_report_command_prints_the_sql_report_as_table_csv_and_json(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as db:
        api = Api(db)
        api.create_product("A-1", "Widget")
        shop = {"customer": api.create_customer("Alice"), "other": api.create_customer("Bob")}
        aging_book(api, shop, db.execute("SELECT current_date").fetchone()[0])
        expected = db.execute("SELECT * FROM billing.ar_aging()").fetchall()
        names = [c.name for c in db.execute("SELECT * FROM billing.ar_aging() LIMIT 0").description]
        today = db.execute("SELECT current_date::text").fetchone()[0]
        statement = db.execute("SELECT entry, balance::text FROM billing.customer_statement(%s, %s, %s)",
                               [shop["customer"], today, today]).fetchall()

    as_json = cli("--database", db_url, "report", "ar_aging", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert [tuple(D(str(v)) if isinstance(v, int | float) else v for v in r.values())
            for r in json.loads(as_json.stdout, parse_float=D)] == expected

    as_csv = cli("--database", db_url, "report", "customer_statement", "--customer", str(shop["customer"]),
                 "--from", today, "--to", today, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["entry"], r["balance"]) for r in rows] == statement

    as_table = cli("--database", db_url, "report", "ar_aging", "--as-of", "now")
    assert as_table.returncode == 0, as_table.stderr
    assert "billing.ar_aging" in as_table.stdout and all(n in as_table.stdout for n in names[:3])
    assert "2370" in as_table.stdout  # Alice's EUR net

    view = cli("--database", db_url, "report", "customer_balance", "--customer", str(shop["other"]), "--format", "json")
    assert view.returncode == 0, view.stderr
    assert [(r["customer_id"], r["net"]) for r in json.loads(view.stdout)] == [(shop["other"], 10)]


def test_report_command_explains_missing_and_bad_options(db_url: str) -> None:
    missing = cli("--database", db_url, "report", "customer_statement", "--from", "2026-01-01")
    assert missing.returncode == 1 and "needs --customer, --to" in missing.stderr
    extra = cli("--database", db_url, "report", "tax_summary", "--from", "2026-01-01", "--to", "2026-01-31",
                "--as-of", "2026-01-01")
    assert extra.returncode == 1 and "takes no --as-of" in extra.stderr
    backwards = cli("--database", db_url, "report", "tax_summary", "--from", "2026-02-01", "--to", "2026-01-01")
    assert backwards.returncode == 1 and "[22023]" in backwards.stderr
    not_a_date = cli("--database", db_url, "report", "ar_aging", "--as-of", "yesterdayish")
    assert not_a_date.returncode == 1 and "[22007]" in not_a_date.stderr
    unknown = cli("--database", db_url, "report", "balance_sheet")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_the_planner_knows_how_few_items_are_open(db, api, shop) -> None:
    """Reports and strategies find open items through partial indexes; the planner only takes them when it can
    tell that few rows are open (statistics on the open amount, migration 0012), not a fixed third of the table."""
    c = shop["customer"]
    for n in range(60):
        inv = fee_invoice(api, c, 10)
        if n >= 5:
            api.allocate_payment(c, api.record_payment(c, "EUR", 10, "CARD"), inv)
    db.execute("ANALYZE billing.invoice_balance, billing.payment_balance")
    for table, open_amount in (("invoice_balance", "total - allocated - refunded"),
                               ("payment_balance", "amount - allocated - refunded - voided")):
        plan = db.execute(f"EXPLAIN (FORMAT JSON) SELECT * FROM billing.{table} WHERE {open_amount} > 0").fetchone()[0]
        assert plan[0]["Plan"]["Plan Rows"] <= 10, f"{table}: the planner expects {plan[0]['Plan']['Plan Rows']} open rows"


def test_tax_summary_takes_back_the_whole_base_at_zero_rates_and_across_rounded_credits(db, api, shop) -> None:
    c, other = shop["customer"], shop["other"]
    today = db.execute("SELECT current_date").fetchone()[0]
    old = api.create_invoice(other, "EUR")  # issued 40 days ago, credited today: only credits in today's period
    api.add_fee_line(other, old, "ADMIN", 50)
    api.add_tax_line(other, old, "GB_VAT", D("0.2"))  # 10.00
    api.issue_invoice(other, old)
    move_history_back(db, other, 40)
    api.issue_credit_note(other, old, [{"line_no": 1, "amount": 25}, {"line_no": 2, "amount": 5}])
    zero = api.create_invoice(c, "EUR")  # zero-rated, then voided: its tax line (0.00) cannot be credited
    api.add_fee_line(c, zero, "ADMIN", 100)
    api.add_tax_line(c, zero, "FR_VAT", 0)
    api.issue_invoice(c, zero)
    api.void_invoice(c, zero, "wrong customer")
    thirds = api.create_invoice(c, "EUR")  # 3 % of 1.00 = 0.03, credited in three parts
    api.add_fee_line(c, thirds, "ADMIN", 1)
    api.add_tax_line(c, thirds, "DE_VAT", D("0.03"))
    api.issue_invoice(c, thirds)
    for part in (0.33, 0.33, 0.34):
        api.issue_credit_note(c, thirds, [{"line_no": 1, "amount": part}, {"line_no": 2, "amount": 0.01}])
    assert db.execute("SELECT * FROM billing.tax_summary(%s, %s)", [today, today]).fetchall() == [
        ("DE_VAT", "Germany, Umsatzsteuer", D("0.03"), "EUR", 1, D("0.03"), 1, D("0.03"), 0, 0),
        ("FR_VAT", "France, TVA", 0, "EUR", 100, 0, 100, 0, 0, 0),
        # invoiced 40 days ago: nothing invoiced today, half the base and tax taken back
        ("GB_VAT", "United Kingdom, VAT", D("0.2"), "EUR", 0, 0, 25, 5, -25, -5),
    ]


def test_as_of_amounts_stay_real_when_a_write_off_waited_for_an_allocation(db, db_url, api, shop) -> None:
    """A change is stamped once it holds its rows' locks: a write-off that waited for a transaction which
    allocated and un-allocated on the same invoice is stamped after it, so no moment shows an impossible amount."""
    c = shop["customer"]
    inv = fee_invoice(api, c, 100)
    first = api.allocate_payment(c, api.record_payment(c, "EUR", 60, "CARD"), inv)
    second = api.record_payment(c, "EUR", 10, "CARD")
    with psycopg.connect(db_url) as a:
        a.execute("SELECT billing.allocate_payment(%s, %s, %s, 10)", [c, second, inv])
        writer = threading.Thread(target=lambda: run_together(db_url, [
            lambda w: w.execute("SELECT billing.write_off(%s, %s, 90)", [c, inv])]))
        writer.start()
        wait_until_blocked(db)
        a.execute("SELECT billing.unallocate(%s, %s)", [c, first])
        a.commit()
        writer.join()
    assert db.execute("SELECT open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [inv]).fetchone()[0] == 0
    moments = [r[0] for r in db.execute(
        "SELECT allocated_at FROM billing.allocation WHERE customer_id = %(c)s"
        " UNION SELECT written_off_at FROM billing.write_off WHERE customer_id = %(c)s ORDER BY 1", {"c": c})]
    seen = [db.execute("SELECT coalesce(sum(open_amount), 0) FROM billing.open_items(%s) WHERE document_id = %s"
                       " AND kind = 'invoice'", [m, inv]).fetchone()[0] for m in moments]
    # allocated 60, allocated 10, the 60 reversed, written off 90; stamped before its wait, the write-off
    # would come before the reversal and show -60 open
    assert seen == [40, 30, 90, 0]
