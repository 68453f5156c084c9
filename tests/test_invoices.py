"""Invoices: drafts, subtype lines, issuing with gapless numbers, immutability, bad input."""

from __future__ import annotations

import pytest
from helpers import D, doc_no, refused, row
from psycopg.types.json import Jsonb

LINE_TABLES = ["invoice_line", "invoice_product_line", "invoice_fee_line", "invoice_discount_line",
               "invoice_tax_line", "invoice_memo_line"]


@pytest.fixture
def order(api, shop) -> int:
    return api.place_order(shop["customer"], "EUR", [
        {"sku": "A-1", "quantity": 10, "unit_price": "9.99"}, {"sku": "B-2", "quantity": 1, "unit_price": 100}])


@pytest.fixture
def issued(db, api, shop, order) -> int:
    """An issued invoice with one line of every type: product, fee, discount, tax, memo."""
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 2)
    api.add_fee_line(c, inv, "SHIPPING", D("4.95"))
    api.add_discount_line(c, inv, D("1.00"), "loyalty", 1)
    api.add_tax_line(c, inv, "DE_VAT", D("0.19"))
    api.add_memo_line(c, inv, "Thank you")
    api.issue_invoice(c, inv)
    return inv


def test_issued_invoice_has_its_total_and_the_first_number(db, issued) -> None:
    inv = row(db, "SELECT * FROM billing.invoice_summary WHERE invoice_id = %s", [issued])
    # 2 x 9.99 + 4.95 - 1.00 = 23.93; tax 19 % of 23.93 = 4.5467 -> 4.55
    assert (inv["invoice_no"], inv["status"], inv["total"]) == (doc_no("INV", 1, inv["customer_id"]), "issued", D("28.48"))
    lines = db.execute("SELECT line_type, amount FROM billing.invoice_line WHERE invoice_id = %s ORDER BY line_no",
                       [issued]).fetchall()
    assert lines == [("product", D("19.98")), ("fee", D("4.95")), ("discount", D("-1.00")), ("tax", D("4.55")), ("memo", 0)]


def test_numbers_follow_issue_order_not_creation_order(db, api, shop) -> None:
    c = shop["customer"]
    first, second = api.create_invoice(c, "EUR"), api.create_invoice(c, "EUR")
    for inv in (second, first):
        api.add_fee_line(c, inv, "ADMIN", 1)
    assert api.issue_invoice(c, second) == doc_no("INV", 1, c)
    assert api.issue_invoice(c, first) == doc_no("INV", 2, c)


def test_issued_invoice_cannot_be_updated_or_deleted(db, issued) -> None:
    refused(db, "PB001", "UPDATE billing.invoice SET due_date = '2030-01-01' WHERE invoice_id = %s", [issued])
    refused(db, "PB001", "UPDATE billing.invoice SET status = 'draft' WHERE invoice_id = %s", [issued])
    refused(db, "PB001", "DELETE FROM billing.invoice WHERE invoice_id = %s", [issued])


@pytest.mark.parametrize("table", LINE_TABLES)
def test_issued_invoice_lines_cannot_be_updated_or_deleted(db, issued, table) -> None:
    refused(db, "PB001", f"UPDATE billing.{table} SET line_no = line_no WHERE invoice_id = %s", [issued])
    refused(db, "PB001", f"DELETE FROM billing.{table} WHERE invoice_id = %s", [issued])


@pytest.mark.parametrize("table", ["invoice", *LINE_TABLES, "credit_note_line", "invoice_balance",
                                   "invoice_cancellation", "invoice_dispute"])
def test_truncate_of_document_tables_is_refused_even_for_the_owner(db, issued, table) -> None:
    assert db.execute("SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = %s::regclass), 'USAGE')",
                      [f"billing.{table}"]).fetchone()[0]
    refused(db, "PB001", f"TRUNCATE billing.{table} CASCADE")


def test_lines_cannot_be_added_to_an_issued_invoice(db, shop, order, issued) -> None:
    c = shop["customer"]
    refused(db, "55000", "SELECT billing.add_fee_line(%s, %s, 'ADMIN', 1)", [c, issued])
    refused(db, "55000", "INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, amount)"
            " VALUES (%s, %s, 99, 'fee', 1)", [c, issued])
    refused(db, "55000", "SELECT billing.issue_invoice(%s, %s)", [c, issued])


def test_draft_invoice_is_freely_editable_and_deletable(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 1)
    api.add_memo_line(c, inv, "draft note")
    db.execute("UPDATE billing.invoice SET due_date = '2030-01-31' WHERE invoice_id = %s", [inv])
    db.execute("DELETE FROM billing.invoice_line WHERE invoice_id = %s AND line_no = 2", [inv])
    db.execute("DELETE FROM billing.invoice WHERE invoice_id = %s", [inv])
    assert db.execute("SELECT count(*) FROM billing.invoice_line WHERE invoice_id = %s", [inv]).fetchone()[0] == 0


def test_empty_invoice_or_a_line_without_its_subtype_cannot_be_issued(db, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    refused(db, "55000", "SELECT billing.issue_invoice(%s, %s)", [c, inv])
    db.execute("INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, amount)"
               " VALUES (%s, %s, 1, 'fee', 5)", [c, inv])
    refused(db, "55000", "SELECT billing.issue_invoice(%s, %s)", [c, inv])
    refused(db, "55000", "UPDATE billing.invoice SET status = 'issued' WHERE invoice_id = %s", [inv])
    db.execute("INSERT INTO billing.invoice_fee_line (customer_id, invoice_id, line_no, fee_code) VALUES (%s, %s, 1, 'ADMIN')",
               [c, inv])
    db.execute("UPDATE billing.invoice SET status = 'issued' WHERE invoice_id = %s", [inv])  # direct issue, same rules
    assert row(db, "SELECT invoice_no, total FROM billing.invoice WHERE invoice_id = %s", [inv]) == {
        "invoice_no": doc_no("INV", 1, c), "total": D("5")}


def test_subtype_row_of_the_wrong_type_is_refused_declaratively(db, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "ADMIN", 5)
    # a memo row for a fee line: its line_type CHECK (or the composite key with line_type) refuses it
    refused(db, "23514", "INSERT INTO billing.invoice_memo_line (customer_id, invoice_id, line_no, line_type, memo)"
            " VALUES (%s, %s, 1, 'fee', 'x')", [c, inv])
    refused(db, "23503", "INSERT INTO billing.invoice_memo_line (customer_id, invoice_id, line_no, memo)"
            " VALUES (%s, %s, 1, 'x')", [c, inv])


def test_invoice_created_as_issued_is_refused(db, shop) -> None:
    refused(db, "55000", "INSERT INTO billing.invoice (customer_id, currency, status, invoice_no, issued_at, total)"
            " VALUES (%s, 'EUR', 'issued', 'INV-999999', now(), 0)", [shop["customer"]])


def test_product_line_bills_only_its_own_customers_order(db, api, shop, order) -> None:
    other_inv = api.create_invoice(shop["other"], "EUR")
    refused(db, "23503", "SELECT billing.add_product_line(%s, %s, %s, 1, 1)", [shop["other"], other_inv, order])
    db.execute("INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, quantity, unit_amount, amount)"
               " VALUES (%s, %s, 1, 'product', 1, 9.99, 9.99)", [shop["other"], other_inv])
    refused(db, "23503", "INSERT INTO billing.invoice_product_line (customer_id, invoice_id, line_no, order_id, order_line_no)"
            " VALUES (%s, %s, 1, %s, 1)", [shop["other"], other_inv, order])


def test_mixing_currencies_on_one_invoice_is_refused(db, api, shop, order) -> None:
    c = shop["customer"]
    usd = api.create_invoice(c, "USD")
    refused(db, "23514", "SELECT billing.add_product_line(%s, %s, %s, 1, 1)", [c, usd, order])
    refused(db, "23514", "SELECT billing.add_fee_line(%s, %s, 'SHIPPING', 1, NULL, %s)", [c, usd, order])
    refused(db, "55000", "UPDATE billing.invoice SET currency = 'EUR' WHERE invoice_id = %s", [usd])


def test_amounts_must_fit_the_currency_and_the_line(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    refused(db, "23514", "SELECT billing.add_fee_line(%s, %s, 'ADMIN', 1.005)", [c, inv])
    refused(db, "23514", "SELECT billing.add_fee_line(%s, %s, 'ADMIN', -1)", [c, inv])
    refused(db, "22023", "SELECT billing.add_discount_line(%s, %s, -1, 'negative given')", [c, inv])
    refused(db, "23514", "SELECT billing.add_product_line(%s, %s, %s, 1, 0)", [c, inv, order])
    refused(db, "23514", "SELECT billing.add_tax_line(%s, %s, 'DE_VAT', 1.5, 10)", [c, inv])
    yen = api.create_invoice(c, "JPY")
    refused(db, "23514", "SELECT billing.add_fee_line(%s, %s, 'ADMIN', 10.5)", [c, yen])
    # direct INSERTs are held to the same arithmetic
    refused(db, "23514", "INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, quantity, unit_amount, amount)"
            " VALUES (%s, %s, 1, 'fee', 3, 1.10, 3.40)", [c, inv])
    api.add_product_line(c, inv, order, 1, 1)
    refused(db, "23514", "UPDATE billing.invoice_line SET unit_amount = 1, amount = 1 WHERE invoice_id = %s AND line_no = 1", [inv])


def test_unknown_fee_tax_code_invoice_and_nulls_are_refused(db, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    refused(db, "23503", "SELECT billing.add_fee_line(%s, %s, 'NOPE', 1)", [c, inv])
    refused(db, "23503", "SELECT billing.add_tax_line(%s, %s, 'NOPE', 0.1, 10)", [c, inv])
    refused(db, "23503", "SELECT billing.create_invoice(%s, 'XYZ')", [c])
    refused(db, "23503", "SELECT billing.create_invoice(999999, 'EUR')")
    refused(db, "23503", "SELECT billing.add_memo_line(%s, 999999, 'x')", [c])
    refused(db, "23503", "SELECT billing.issue_invoice(%s, 999999)", [c])
    refused(db, "22004", "SELECT billing.add_memo_line(%s, %s, NULL)", [c, inv])
    refused(db, "22004", "SELECT billing.add_fee_line(%s, %s, 'ADMIN', NULL)", [c, inv])
    refused(db, "22004", "SELECT billing.issue_invoice(NULL, %s)", [inv])


def test_tax_line_defaults_to_the_other_lines_as_taxable_amount(db, api, shop, order) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 2, 1)
    api.add_discount_line(c, inv, 10, "launch")
    line = api.add_tax_line(c, inv, "FR_VAT", D("0.2"))
    assert row(db, "SELECT taxable_amount FROM billing.invoice_tax_line WHERE invoice_id = %s AND line_no = %s",
               [inv, line])["taxable_amount"] == 90
    assert row(db, "SELECT amount FROM billing.invoice_line WHERE invoice_id = %s AND line_no = %s", [inv, line])["amount"] == 18


def test_half_cents_round_away_from_zero(db, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    line = api.add_tax_line(c, inv, "DE_VAT", D("0.5"), D("0.05"))  # 0.025 -> 0.03
    assert db.execute("SELECT amount FROM billing.invoice_line WHERE invoice_id = %s AND line_no = %s",
                      [inv, line]).fetchone()[0] == D("0.03")
    assert db.execute("SELECT billing.round_money(-2.345, 'EUR'), billing.round_money(2.5, 'JPY')").fetchone() == (D("-2.35"), 3)


def line_rows(db, inv: int) -> list[tuple]:
    """Every line and subtype row of an invoice, without its ids."""
    return db.execute(
        """
        SELECT l.line_no, l.line_type, l.quantity, l.unit_amount, l.amount, l.description,
            p.order_id, p.order_line_no, f.fee_code, f.order_id, f.order_charge_no, d.applies_to_line_no,
            t.tax_code, t.rate, t.taxable_amount, m.memo
        FROM billing.invoice_line AS l
        LEFT JOIN billing.invoice_product_line AS p USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_fee_line AS f USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_discount_line AS d USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_tax_line AS t USING (customer_id, invoice_id, line_no)
        LEFT JOIN billing.invoice_memo_line AS m USING (customer_id, invoice_id, line_no)
        WHERE l.invoice_id = %s ORDER BY l.line_no
        """, [inv]).fetchall()


def test_issue_new_invoice_bills_exactly_what_the_add_line_calls_bill(db, api, shop, order, issued) -> None:
    c = shop["customer"]
    api.add_order_charge(c, order, "HANDLING", D("3.00"))
    inv = api.issue_new_invoice(c, "EUR", [
        {"type": "product", "order_id": order, "order_line_no": 1, "quantity": 2},
        {"type": "fee", "fee_code": "SHIPPING", "amount": 4.95},
        {"type": "discount", "amount": 1.00, "description": "loyalty", "applies_to_line_no": 1},
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19},
        {"type": "memo", "text": "Thank you"},
        {"type": "fee", "fee_code": "HANDLING", "amount": 3.00, "description": "packing", "order_id": order,
         "order_charge_no": 1},
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.07, "taxable_amount": 3.00},
    ], "2030-01-31")
    # the first five lines as the fixture's add_*_line calls wrote them, then a charge's fee and a tax on it
    assert line_rows(db, inv)[:5] == line_rows(db, issued)
    assert [r[:6] for r in line_rows(db, inv)[5:]] == [
        (6, "fee", 1, None, D("3.00"), "packing"), (7, "tax", 1, None, D("0.21"), "Germany, Umsatzsteuer")]
    got = row(db, "SELECT * FROM billing.invoice WHERE invoice_id = %s", [inv])
    assert (got["status"], got["invoice_no"], got["total"], str(got["due_date"])) == (
        "issued", doc_no("INV", 2, c), D("28.48") + D("3.21"), "2030-01-31")
    billed = db.execute("SELECT billed_quantity FROM billing.order_line WHERE order_id = %s AND line_no = 1",
                        [order]).fetchone()[0]
    assert billed == 4  # 2 by the fixture's invoice, 2 by this one
    assert db.execute("SELECT billed_amount FROM billing.order_charge WHERE order_id = %s", [order]).fetchone()[0] == 3


def test_issue_new_invoice_refuses_a_line_the_rules_refuse_and_leaves_nothing(db, api, shop, order) -> None:
    c = shop["customer"]
    before = db.execute("SELECT count(*) FROM billing.invoice").fetchone()[0]
    for sqlstate, lines in (
        ("23514", [{"type": "fee", "fee_code": "ADMIN", "amount": 1.005}]),  # more decimals than EUR has
        ("23514", [{"type": "product", "order_id": order, "order_line_no": 1, "quantity": 11}]),  # 10 ordered
        ("23503", [{"type": "product", "order_id": order, "order_line_no": 9, "quantity": 1}]),
        ("23503", [{"type": "fee", "fee_code": "NO_SUCH_FEE", "amount": 1}]),
        ("22023", [{"type": "discount", "amount": 0, "description": "nothing"}]),
        ("22023", [{"type": "fee", "fee_code": "ADMIN", "amount": "1"}]),
    ):
        refused(db, sqlstate, "SELECT billing.issue_new_invoice(%s, 'EUR', %s)", [c, Jsonb(lines)])
    assert db.execute("SELECT count(*) FROM billing.invoice").fetchone()[0] == before
