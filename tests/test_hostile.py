"""Hostile input catalogue: every call below is refused with a documented SQLSTATE (README, Errors), a message a
person can act on, and every billing table byte-for-byte as it was.

Hand-written cases (CASES) cover wrong customers, currencies and states, unknown ids, numbers that are no amounts
(NaN, Infinity, 1e30, too many decimals, negative, zero), empty, blank and 10 MB text, SQL fragments, malformed
JSON for p_lines / p_quantities, and direct writes to immutable and derived tables. Generated cases (NULL_CASES)
pass NULL for each required argument of each public API function (README, The SQL API by task), one at a time,
the other arguments valid (TEMPLATES; test_template_calls_are_accepted proves them valid, and
test_null_cases_cover_every_required_argument checks them against pg_proc).

The state they run against (the world fixture) is built once, through the API, in a database of this module; each
call runs in a transaction that is rolled back afterwards (deferred constraints checked before), so every case
meets the same state.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
from helpers import D, Api, refused, snapshot
from pytest_postgresql.janitor import DatabaseJanitor

README = Path(__file__).resolve().parents[1] / "README.md"

DROP = "'); DROP TABLE billing.invoice; --"
# The SQL fragments a hostile caller might try in text: quotes, comments, format and bind placeholders, backslashes.
FRAGMENTS = [DROP, "Robert'); DELETE FROM billing.payment; --", "%s %L %I $1 $$ ::text", "C:\\temp\\new\\x00 \\' \\\\",
             "\" OR 1=1 --", "ümlaut ✓ 日本"]


@cache
def big() -> str:
    """10 MB of text that does not compress away (a btree index would take 'x' * 10 MB once TOAST squeezed it)."""
    block, parts = b"pgbilling", []
    for _ in range(10 * 2**20 // 64):
        block = hashlib.sha256(block).digest()
        parts.append(block.hex())
    return "".join(parts)


class Case(NamedTuple):
    id: str
    sql: str
    sqlstate: str


C = Case
def repr_json(value: Any) -> str:
    """A JSON value as an SQL string literal."""
    return "'" + json.dumps(value).replace("'", "''") + "'"

ONE_LINE = '[{"sku": "A-1", "quantity": 1, "unit_price": 1}]'

CASES: list[Case] = [
    # --- wrong customer: another customer's order, invoice, payment, allocation, dispute
    C("order-of-other-customer-billed", "SELECT billing.bill_order(%(other)s, %(o1)s)", "23503"),
    C("order-of-other-customer-canceled", "SELECT billing.cancel_order(%(other)s, %(o1)s, 'x')", "23503"),
    C("order-of-other-customer-gets-line", "SELECT billing.add_order_line(%(other)s, %(o1)s, 'A-1', 1, 1)", "23503"),
    C("order-line-of-other-customer-on-invoice",
      "SELECT billing.add_product_line(%(c)s, %(draft)s, %(ob)s, 1, 1)", "23503"),
    C("invoice-of-other-customer-issued", "SELECT billing.issue_invoice(%(other)s, %(draft)s)", "23503"),
    C("invoice-of-other-customer-credited", "SELECT billing.issue_credit_note(%(other)s, %(inv1)s)", "23503"),
    C("invoice-of-other-customer-voided", "SELECT billing.void_invoice(%(other)s, %(inv1)s, 'x')", "23503"),
    C("invoice-of-other-customer-disputed", "SELECT billing.dispute_invoice(%(other)s, %(inv3)s, 'x')", "23503"),
    C("invoice-of-other-customer-resolved", "SELECT billing.resolve_dispute(%(other)s, %(inv1)s)", "23503"),
    C("invoice-of-other-customer-written-off", "SELECT billing.write_off(%(other)s, %(inv3)s)", "23503"),
    C("invoice-of-other-customer-paid", "SELECT billing.pay_invoices(%(c)s, 'USD', 1, 'CASH', ARRAY[%(inv_b)s]::bigint[])",
      "23503"),
    C("payment-of-other-customer-allocated", "SELECT billing.allocate_payment(%(c)s, %(pay_b)s, %(inv3)s)", "23503"),
    C("payment-of-other-customer-auto-allocated", "SELECT * FROM billing.auto_allocate(%(other)s, %(pay3)s)", "23503"),
    C("payment-of-other-customer-canceled", "SELECT billing.cancel_payment(%(other)s, %(pay1)s, 'x')", "23503"),
    C("payment-of-other-customer-refunded", "SELECT billing.refund(%(c)s, 'USD', 1, 'CASH', NULL, %(pay_b)s)", "23503"),
    C("allocation-of-other-customer-reversed", "SELECT billing.unallocate(%(other)s, %(alloc1)s)", "23503"),
    C("credit-note-of-other-customer-applied", "SELECT billing.apply_credit_note(%(other)s, %(cn1)s, %(inv_b)s)", "23503"),
    # --- unknown ids
    C("unknown-customer-orders", f"SELECT billing.place_order(999999, 'EUR', '{ONE_LINE}')", "23503"),
    C("unknown-customer-pays", "SELECT billing.record_payment(999999, 'EUR', 1, 'CASH')", "23503"),
    C("unknown-customer-statement", "SELECT * FROM billing.customer_statement(999999, '2026-01-01', '2026-01-31')", "23503"),
    C("unknown-order-billed", "SELECT billing.bill_order(%(c)s, 999999)", "23503"),
    C("unknown-order-line-on-invoice", "SELECT billing.add_product_line(%(c)s, %(draft)s, %(o1)s, 99, 1)", "23503"),
    C("unknown-invoice-issued", "SELECT billing.issue_invoice(%(c)s, 999999)", "23503"),
    C("unknown-invoice-gets-product-line", "SELECT billing.add_product_line(%(c)s, 999999, %(o1)s, 1, 1)", "23503"),
    C("unknown-invoice-gets-tax-line", "SELECT billing.add_tax_line(%(c)s, 999999, 'DE_VAT', 0.19)", "23503"),
    C("unknown-invoice-voided", "SELECT billing.void_invoice(%(c)s, 999999, 'x')", "23503"),
    C("unknown-invoice-disputed", "SELECT billing.dispute_invoice(%(c)s, 999999, 'x')", "23503"),
    C("unknown-invoice-resolved", "SELECT billing.resolve_dispute(%(c)s, 999999)", "23503"),
    C("unknown-payment-allocated", "SELECT billing.allocate_payment(%(c)s, 999999, %(inv3)s)", "23503"),
    C("unknown-payment-canceled", "SELECT billing.cancel_payment(%(c)s, 999999, 'x')", "23503"),
    C("unknown-payment-refunded", "SELECT billing.refund(%(c)s, 'EUR', 1, 'CASH', NULL, 999999)", "23503"),
    C("unknown-allocation-reversed", "SELECT billing.unallocate(%(c)s, 999999)", "23503"),
    C("unknown-credit-line", "SELECT billing.issue_credit_note(%(c)s, %(inv3)s, '[{\"line_no\": 9, \"quantity\": 1}]')",
      "23503"),
    C("unknown-sku", "SELECT billing.add_order_line(%(c)s, %(o1)s, 'NOPE', 1, 1)", "23503"),
    C("unknown-fee", "SELECT billing.add_order_charge(%(c)s, %(o1)s, 'TIP', 1)", "23503"),
    C("unknown-tax-code", "SELECT billing.add_tax_line(%(c)s, %(draft)s, 'XX_VAT', 0.1)", "23503"),
    C("unknown-payment-method", "SELECT billing.record_payment(%(c)s, 'EUR', 1, 'BITCOIN')", "23503"),
    # --- wrong currency
    C("unknown-currency-order", f"SELECT billing.place_order(%(c)s, 'XYZ', '{ONE_LINE}')", "23503"),
    C("lower-case-currency-payment", "SELECT billing.record_payment(%(c)s, 'eur', 1, 'CASH')", "23503"),
    C("four-letter-currency-payment", "SELECT billing.record_payment(%(c)s, 'EURO', 1, 'CASH')", "23503"),
    C("four-letter-currency-invoice", "SELECT billing.create_invoice(%(c)s, 'EURO')", "23503"),
    C("four-letter-currency-refund", "SELECT billing.refund(%(c)s, 'EURO', 1, 'CASH')", "23503"),
    C("payment-in-other-currency-allocated", "SELECT billing.allocate_payment(%(c)s, %(usd_pay)s, %(inv3)s)", "23503"),
    C("payment-in-other-currency-refunded", "SELECT billing.refund(%(c)s, 'USD', 1, 'CASH', NULL, %(pay3)s)", "23503"),
    C("order-in-other-currency-on-invoice", "SELECT billing.add_product_line(%(c)s, %(usd_draft)s, %(o1)s, 1, 1)", "23514"),
    C("pay-invoice-in-other-currency", "SELECT billing.pay_invoices(%(c)s, 'USD', 1, 'CASH', ARRAY[%(inv3)s]::bigint[])",
      "23503"),
    # --- wrong state
    C("issue-issued-invoice", "SELECT billing.issue_invoice(%(c)s, %(inv1)s)", "55000"),
    C("add-line-to-issued-invoice", "SELECT billing.add_fee_line(%(c)s, %(inv1)s, 'ADMIN', 1)", "55000"),
    C("add-line-to-credit-note", "SELECT billing.add_memo_line(%(c)s, %(cn1)s, 'x')", "55000"),
    C("allocate-to-draft", "SELECT billing.allocate_payment(%(c)s, %(pay3)s, %(draft)s, 1)", "55000"),
    C("allocate-to-credit-note", "SELECT billing.allocate_payment(%(c)s, %(pay3)s, %(cn1)s, 1)", "23503"),
    C("allocate-to-paid-invoice", "SELECT billing.allocate_payment(%(c)s, %(pay3)s, %(inv1)s)", "55000"),
    C("allocate-from-canceled-payment", "SELECT billing.allocate_payment(%(c)s, %(pay2)s, %(inv3)s, 1)", "55000"),
    C("allocate-to-canceled-invoice", "SELECT billing.allocate_payment(%(c)s, %(pay3)s, %(inv2)s, 1)", "55000"),
    C("auto-allocate-canceled-payment", "SELECT * FROM billing.auto_allocate(%(c)s, %(pay2)s)", "55000"),
    C("refund-from-canceled-payment", "SELECT billing.refund(%(c)s, 'EUR', 1, 'CASH', NULL, %(pay2)s)", "55000"),
    C("refund-more-than-open-credit", "SELECT billing.refund(%(c)s, 'EUR', 1000, 'CASH')", "23514"),
    C("unallocate-twice", "SELECT billing.unallocate(%(c)s, %(alloc_rev)s)", "55000"),
    C("unallocate-a-reversal", "SELECT billing.unallocate(%(c)s, %(reversal)s)", "55000"),
    C("cancel-payment-twice", "SELECT billing.cancel_payment(%(c)s, %(pay2)s, 'again')", "55000"),
    C("cancel-order-twice", "SELECT billing.cancel_order(%(c)s, %(o2)s, 'again')", "55000"),
    C("bill-canceled-order", "SELECT billing.bill_order(%(c)s, %(o2)s)", "55000"),
    C("add-line-to-canceled-order", "SELECT billing.add_order_line(%(c)s, %(o2)s, 'A-1', 1, 1)", "55000"),
    C("void-canceled-invoice", "SELECT billing.void_invoice(%(c)s, %(inv2)s, 'again')", "55000"),
    C("credit-draft", "SELECT billing.issue_credit_note(%(c)s, %(draft)s)", "55000"),
    C("credit-credit-note", "SELECT billing.issue_credit_note(%(c)s, %(cn1)s)", "55000"),
    C("dispute-draft", "SELECT billing.dispute_invoice(%(c)s, %(draft)s, 'x')", "55000"),
    C("dispute-disputed-invoice", "SELECT billing.dispute_invoice(%(c)s, %(inv1)s, 'again')", "23505"),
    C("resolve-undisputed-invoice", "SELECT billing.resolve_dispute(%(c)s, %(inv3)s)", "55000"),
    C("write-off-draft", "SELECT billing.write_off(%(c)s, %(draft)s, 1)", "55000"),
    C("write-off-canceled-invoice", "SELECT billing.write_off(%(c)s, %(inv2)s, 1)", "55000"),
    C("write-off-paid-invoice", "SELECT billing.write_off(%(c)s, %(inv1)s)", "55000"),
    C("write-off-more-than-open", "SELECT billing.write_off(%(c)s, %(inv3)s, 1000)", "23514"),
    C("bill-more-than-ordered", "SELECT billing.bill_order(%(c)s, %(o1)s, '{\"1\": 8}')", "23514"),
    C("duplicate-order-ref", f"SELECT billing.place_order(%(c)s, 'EUR', '{ONE_LINE}', 'PO-1')", "23505"),
    C("duplicate-sku", "SELECT billing.create_product('A-1', 'again')", "23505"),
    C("payment-number-reused-with-other-amount", "SELECT billing.record_payment(%(c)s, 'EUR', 21, 'CASH', NULL, 'GW-1')",
      "23505"),
    C("unknown-strategy", "SELECT * FROM billing.auto_allocate(%(c)s, %(pay3)s, 'newest')", "22023"),
    C("empty-invoice-list", "SELECT billing.pay_invoices(%(c)s, 'EUR', 1, 'CASH', ARRAY[]::bigint[])", "22023"),
    C("period-ends-before-it-starts", "SELECT * FROM billing.tax_summary('2026-02-01', '2026-01-01')", "22023"),
    C("aging-as-of-infinity", "SELECT * FROM billing.ar_aging('infinity')", "22023"),
    # --- numbers that are no amounts: NaN, Infinity, -Infinity, 1e30, too many decimals, negative, zero
    *[C(f"payment-amount-{n}", f"SELECT billing.record_payment(%(c)s, 'EUR', '{v}', 'CASH')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("minus-infinity", "-Infinity"), ("1e30", "1e30"),
                   ("three-decimals", "1.001"), ("negative", "-1"), ("zero", "0"))],
    C("yen-payment-with-decimals", "SELECT billing.record_payment(%(c)s, 'JPY', 10.5, 'CASH')", "23514"),
    *[C(f"order-quantity-{n}", f"SELECT billing.add_order_line(%(c)s, %(o1)s, 'A-1', '{v}', 1)", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("negative", "-1"), ("zero", "0"))],
    *[C(f"unit-price-{n}", f"SELECT billing.add_order_line(%(c)s, %(o1)s, 'A-1', 1, '{v}')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("negative", "-0.01"))],
    *[C(f"charge-{n}", f"SELECT billing.add_order_charge(%(c)s, %(o1)s, 'HANDLING', '{v}')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("three-decimals", "1.005"),
                   ("zero", "0"))],
    *[C(f"fee-line-{n}", f"SELECT billing.add_fee_line(%(c)s, %(draft)s, 'ADMIN', '{v}')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("negative", "-5"))],
    *[C(f"discount-{n}", f"SELECT billing.add_discount_line(%(c)s, %(draft)s, '{v}', 'x')", s)
      for n, v, s in (("nan", "NaN", "23514"), ("infinity", "Infinity", "23514"), ("1e30", "1e30", "23514"),
                      ("zero", "0", "22023"), ("negative", "-1", "22023"))],
    *[C(f"tax-{n}", f"SELECT billing.add_tax_line(%(c)s, %(draft)s, 'DE_VAT', {v})", "23514")
      for n, v in (("rate-nan", "'NaN'"), ("rate-infinity", "'Infinity'"), ("rate-negative", "-0.19"),
                   ("rate-above-one", "19"), ("taxable-nan", "0.19, 'NaN'"), ("taxable-infinity", "0.19, 'Infinity'"),
                   ("taxable-1e30", "0.19, 1e30"), ("taxable-negative", "0.19, -100"))],
    *[C(f"product-line-quantity-{n}", f"SELECT billing.add_product_line(%(c)s, %(draft)s, %(o1)s, 1, '{v}')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("zero", "0"))],
    *[C(f"allocation-{n}", f"SELECT billing.allocate_payment(%(c)s, %(pay3)s, %(inv3)s, '{v}')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("three-decimals", "1.001"),
                   ("negative", "-1"), ("zero", "0"))],
    *[C(f"refund-{n}", f"SELECT billing.refund(%(c)s, 'EUR', '{v}', 'CASH')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("three-decimals", "0.001"),
                   ("negative", "-1"), ("zero", "0"))],
    *[C(f"write-off-{n}", f"SELECT billing.write_off(%(c)s, %(inv3)s, '{v}')", "23514")
      for n, v in (("nan", "NaN"), ("infinity", "Infinity"), ("1e30", "1e30"), ("three-decimals", "0.001"),
                   ("negative", "-1"), ("zero", "0"))],
    C("pay-invoices-nan", "SELECT billing.pay_invoices(%(c)s, 'EUR', 'NaN', 'CASH', ARRAY[%(inv3)s]::bigint[])", "23514"),
    # --- text: empty, blank, 10 MB, SQL fragments where they are looked up
    *[C(f"{what}-{n}", sql.replace("%(t)s", f"%({n})s"), "23514")
      for n in ("empty", "blank", "big")
      for what, sql in (
          ("customer-name", "SELECT billing.create_customer(%(t)s)"),
          ("customer-email", "SELECT billing.create_customer('Eve', %(t)s)"),
          ("product-sku", "SELECT billing.create_product(%(t)s, 'Thing')"),
          ("product-name", "SELECT billing.create_product('C-3', %(t)s)"),
          ("order-ref", f"SELECT billing.place_order(%(c)s, 'EUR', '{ONE_LINE}', %(t)s)"),
          ("cancel-reason", "SELECT billing.cancel_order(%(c)s, %(o1)s, %(t)s)"),
          ("void-reason", "SELECT billing.void_invoice(%(c)s, %(inv3)s, %(t)s)"),
          ("dispute-reason", "SELECT billing.dispute_invoice(%(c)s, %(inv3)s, %(t)s)"),
          ("memo", "SELECT billing.add_memo_line(%(c)s, %(draft)s, %(t)s)"),
          ("payment-no", "SELECT billing.record_payment(%(c)s, 'EUR', 1, 'CASH', NULL, %(t)s)"),
          ("payment-cancel-reason", "SELECT billing.cancel_payment(%(c)s, %(pay1)s, %(t)s)"),
      ) if not (what == "customer-email" and n != "big")],
    C("discount-description-big", "SELECT billing.add_discount_line(%(c)s, %(draft)s, 1, %(big)s)", "23514"),
    C("fee-description-big", "SELECT billing.add_fee_line(%(c)s, %(draft)s, 'ADMIN', 1, %(big)s)", "23514"),
    C("charge-description-big", "SELECT billing.add_order_charge(%(c)s, %(o1)s, 'HANDLING', 1, %(big)s)", "23514"),
    C("product-description-big", "SELECT billing.create_product('C-3', 'Thing', %(big)s)", "23514"),
    C("credit-note-reason-big", "SELECT billing.issue_credit_note(%(c)s, %(inv3)s, NULL, %(big)s)", "23514"),
    C("resolution-note-big", "SELECT billing.resolve_dispute(%(c)s, %(inv1)s, %(big)s)", "23514"),
    C("payment-reference-big", "SELECT billing.record_payment(%(c)s, 'EUR', 1, 'CASH', NULL, NULL, %(big)s)", "23514"),
    C("refund-reason-big", "SELECT billing.refund(%(c)s, 'EUR', 1, 'CASH', %(big)s)", "23514"),
    C("write-off-reason-big", "SELECT billing.write_off(%(c)s, %(inv3)s, 1, %(big)s)", "23514"),
    C("unallocate-reason-big", "SELECT billing.unallocate(%(c)s, %(alloc1)s, %(big)s)", "23514"),
    C("big-sku-looked-up", "SELECT billing.add_order_line(%(c)s, %(o1)s, %(big)s, 1, 1)", "23503"),
    C("big-currency", f"SELECT billing.place_order(%(c)s, %(big)s, '{ONE_LINE}')", "23503"),
    C("big-payment-method", "SELECT billing.record_payment(%(c)s, 'EUR', 1, %(big)s)", "23503"),
    C("big-strategy", "SELECT * FROM billing.auto_allocate(%(c)s, %(pay3)s, %(big)s)", "22023"),
    C("sql-fragment-as-sku", "SELECT billing.add_order_line(%(c)s, %(o1)s, %(drop)s, 1, 1)", "23503"),
    C("sql-fragment-as-currency", "SELECT billing.record_payment(%(c)s, %(drop)s, 1, 'CASH')", "23503"),
    C("sql-fragment-as-method", "SELECT billing.refund(%(c)s, 'EUR', 1, %(drop)s)", "23503"),
    C("sql-fragment-as-fee", "SELECT billing.add_order_charge(%(c)s, %(o1)s, %(drop)s, 1)", "23503"),
    C("sql-fragment-as-strategy", "SELECT * FROM billing.auto_allocate(%(c)s, %(pay3)s, %(drop)s)", "22023"),
    # --- JSON of the wrong shape: p_lines of place_order
    *[C(f"order-lines-{n}", "SELECT billing.place_order(%(c)s, 'EUR', %(j)s::jsonb)".replace("%(j)s", repr_json(v)),
        "22023") for n, v in (
        ("object", {"sku": "A-1", "quantity": 1, "unit_price": 1}), ("string", "A-1"), ("number", 1), ("empty", []),
        ("scalar-element", [1]), ("nested-array", [[{"sku": "A-1", "quantity": 1, "unit_price": 1}]]),
        ("missing-quantity", [{"sku": "A-1", "unit_price": 1}]), ("missing-sku", [{"quantity": 1, "unit_price": 1}]),
        ("quantity-abc", [{"sku": "A-1", "quantity": "abc", "unit_price": 1}]),
        ("quantity-nan", [{"sku": "A-1", "quantity": "NaN", "unit_price": 1}]),
        ("quantity-infinity", [{"sku": "A-1", "quantity": "Infinity", "unit_price": 1}]),
        ("quantity-object", [{"sku": "A-1", "quantity": {"value": 1}, "unit_price": 1}]),
        ("quantity-null", [{"sku": "A-1", "quantity": None, "unit_price": 1}]),
        ("price-bool", [{"sku": "A-1", "quantity": 1, "unit_price": True}]),
        ("sku-number", [{"sku": 1, "quantity": 1, "unit_price": 1}]),
        ("sku-object", [{"sku": {"a": 1}, "quantity": 1, "unit_price": 1}]),
        ("product-id-huge", [{"product_id": 10**30, "quantity": 1, "unit_price": 1}]),
        ("sku-and-product-id", [{"sku": "A-1", "product_id": 2, "quantity": 1, "unit_price": 1}]),
        ("extra-key", [{"sku": "A-1", "quantity": 1, "unit_price": 1, "discount": 5}]),
    )],
    C("order-lines-negative-quantity", "SELECT billing.place_order(%(c)s, 'EUR', "
      "'[{\"sku\": \"A-1\", \"quantity\": -1, \"unit_price\": 1}]')", "23514"),
    C("order-lines-price-1e30", "SELECT billing.place_order(%(c)s, 'EUR', "
      "'[{\"sku\": \"A-1\", \"quantity\": 1, \"unit_price\": 1e30}]')", "23514"),
    C("order-lines-big", "SELECT billing.place_order(%(c)s, 'EUR', jsonb_build_array(%(big)s::text))", "22023"),
    # --- p_quantities of bill_order
    *[C(f"bill-quantities-{n}", "SELECT billing.bill_order(%(c)s, %(o1)s, %(j)s::jsonb)".replace("%(j)s", repr_json(v)),
        "22023") for n, v in (
        ("array", [1, 2]), ("string", "1"), ("number", 3), ("key-not-a-number", {"one": 1}),
        ("key-zero-padded", {"01": 1}), ("key-zero", {"0": 1}), ("key-negative", {"-1": 1}),
        ("key-huge", {"99999999999": 1}), ("value-abc", {"1": "abc"}), ("value-nan", {"1": "NaN"}),
        ("value-object", {"1": {"quantity": 1}}), ("value-null", {"1": None}), ("value-array", {"1": [1]}),
    )],
    C("bill-quantities-same-line-twice", "SELECT billing.bill_order(%(c)s, %(o1)s, '{\"1\": 1, \"01\": 1}')", "22023"),
    C("bill-quantities-negative", "SELECT billing.bill_order(%(c)s, %(o1)s, '{\"1\": -1}')", "23514"),
    C("bill-quantities-1e30", "SELECT billing.bill_order(%(c)s, %(o1)s, '{\"1\": 1e30}')", "23514"),
    # --- p_lines of issue_new_invoice
    *[C(f"new-invoice-lines-{n}", "SELECT billing.issue_new_invoice(%(c)s, 'EUR', %(j)s::jsonb)"
        .replace("%(j)s", repr_json(v)), "22023") for n, v in (
        ("object", {"type": "memo", "text": "x"}), ("empty", []), ("scalar-element", [1]),
        ("unknown-type", [{"type": "gift", "amount": 1}]), ("no-type", [{"fee_code": "ADMIN", "amount": 1}]),
        ("unknown-key", [{"type": "memo", "text": "x", "sql": DROP}]), ("missing-key", [{"type": "fee", "amount": 1}]),
        ("null-value", [{"type": "tax", "tax_code": "DE_VAT", "rate": None}]),
        ("amount-string", [{"type": "fee", "fee_code": "ADMIN", "amount": "5"}]),
        ("order-id-fraction", [{"type": "product", "order_id": 1.5, "order_line_no": 1, "quantity": 1}]),
        ("line-no-huge", [{"type": "discount", "amount": 1, "description": "x", "applies_to_line_no": 99999999999}]),
        ("discount-negative", [{"type": "discount", "amount": -1, "description": "x"}]),
        ("second-line-bad", [{"type": "memo", "text": "x"}, {"type": "memo", "text": 1}]),
    )],
    C("new-invoice-unknown-order-line", "SELECT billing.issue_new_invoice(%(c)s, 'EUR', jsonb_build_array("
      "jsonb_build_object('type', 'product', 'order_id', %(o1)s, 'order_line_no', 9, 'quantity', 1)))", "23503"),
    C("new-invoice-order-of-other-customer", "SELECT billing.issue_new_invoice(%(c)s, 'USD', jsonb_build_array("
      "jsonb_build_object('type', 'product', 'order_id', %(ob)s, 'order_line_no', 1, 'quantity', 1)))", "23503"),
    C("new-invoice-over-billed", "SELECT billing.issue_new_invoice(%(c)s, 'EUR', jsonb_build_array("
      "jsonb_build_object('type', 'product', 'order_id', %(o1)s, 'order_line_no', 1, 'quantity', 8)))", "23514"),
    C("new-invoice-canceled-order", "SELECT billing.issue_new_invoice(%(c)s, 'EUR', jsonb_build_array("
      "jsonb_build_object('type', 'product', 'order_id', %(o2)s, 'order_line_no', 1, 'quantity', 1)))", "55000"),
    C("new-invoice-order-in-other-currency", "SELECT billing.issue_new_invoice(%(c)s, 'USD', jsonb_build_array("
      "jsonb_build_object('type', 'product', 'order_id', %(o1)s, 'order_line_no', 2, 'quantity', 1)))", "23514"),
    C("new-invoice-unknown-currency", "SELECT billing.issue_new_invoice(%(c)s, 'XYZ', "
      "'[{\"type\": \"memo\", \"text\": \"x\"}]')", "23503"),
    C("new-invoice-fee-nan", "SELECT billing.issue_new_invoice(%(c)s, 'EUR', "
      "'[{\"type\": \"fee\", \"fee_code\": \"ADMIN\", \"amount\": 1e30}]')", "23514"),
    C("new-invoice-memo-big", "SELECT billing.issue_new_invoice(%(c)s, 'EUR', "
      "jsonb_build_array(jsonb_build_object('type', 'memo', 'text', %(big)s::text)))", "23514"),
    # --- p_lines of issue_credit_note
    *[C(f"credit-lines-{n}", "SELECT billing.issue_credit_note(%(c)s, %(inv3)s, %(j)s::jsonb)"
        .replace("%(j)s", repr_json(v)), "22023") for n, v in (
        ("object", {"line_no": 1, "quantity": 1}), ("empty", []), ("scalar-element", ["1"]),
        ("missing-line-no", [{"quantity": 1}]), ("both-quantity-and-amount", [{"line_no": 1, "quantity": 1, "amount": 1}]),
        ("neither", [{"line_no": 1}]), ("line-no-string", [{"line_no": "1", "quantity": 1}]),
        ("line-no-fraction", [{"line_no": 1.5, "quantity": 1}]), ("quantity-abc", [{"line_no": 1, "quantity": "abc"}]),
        ("quantity-nan", [{"line_no": 1, "quantity": "NaN"}]), ("amount-nested", [{"line_no": 1, "amount": {"v": 1}}]),
        ("quantity-negative", [{"line_no": 1, "quantity": -1}]), ("amount-zero", [{"line_no": 1, "amount": 0}]),
        ("line-twice", [{"line_no": 1, "quantity": 1}, {"line_no": 1, "quantity": 1}]),
        ("extra-key", [{"line_no": 1, "quantity": 1, "reason": "x"}]),
    )],
    C("credit-lines-amount-1e30", "SELECT billing.issue_credit_note(%(c)s, %(inv3)s, '[{\"line_no\": 1, \"amount\": 1e30}]')",
      "23514"),
    C("credit-lines-quantity-1e30",
      "SELECT billing.issue_credit_note(%(c)s, %(inv3)s, '[{\"line_no\": 1, \"quantity\": 1e30}]')", "23514"),
    C("credit-lines-amount-three-decimals",
      "SELECT billing.issue_credit_note(%(c)s, %(inv3)s, '[{\"line_no\": 1, \"amount\": 1.001}]')", "23514"),
    # --- direct writes to immutable (PB001) and derived (PB002) tables, and rules direct SQL obeys
    C("update-issued-invoice", "UPDATE billing.invoice SET due_date = current_date WHERE invoice_id = %(inv1)s", "PB001"),
    C("delete-issued-invoice", "DELETE FROM billing.invoice WHERE invoice_id = %(inv1)s", "PB001"),
    C("update-issued-line", "UPDATE billing.invoice_line SET description = 'x' WHERE invoice_id = %(inv1)s", "PB001"),
    C("delete-issued-subtype-row", "DELETE FROM billing.invoice_product_line WHERE invoice_id = %(inv1)s", "PB001"),
    C("insert-line-into-issued-invoice", "INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type,"
      " amount) VALUES (%(c)s, %(inv1)s, 9, 'memo', 0)", "55000"),
    C("insert-issued-invoice", "INSERT INTO billing.invoice (customer_id, currency, status) VALUES (%(c)s, 'EUR', 'issued')",
      "55000"),
    C("update-payment", "UPDATE billing.payment SET amount = 1 WHERE payment_id = %(pay1)s", "PB001"),
    C("delete-payment", "DELETE FROM billing.payment WHERE payment_id = %(pay3)s", "PB001"),
    C("update-allocation", "UPDATE billing.allocation SET amount = 1 WHERE allocation_id = %(alloc1)s", "PB001"),
    C("delete-allocation", "DELETE FROM billing.allocation WHERE allocation_id = %(alloc1)s", "PB001"),
    C("delete-refund-part", "DELETE FROM billing.refund_part WHERE customer_id = %(c)s", "PB001"),
    C("delete-write-off", "DELETE FROM billing.write_off WHERE customer_id = %(c)s", "PB001"),
    C("delete-payment-cancellation", "DELETE FROM billing.payment_cancellation WHERE customer_id = %(c)s", "PB001"),
    C("delete-invoice-cancellation", "DELETE FROM billing.invoice_cancellation WHERE customer_id = %(c)s", "PB001"),
    C("delete-series", "DELETE FROM billing.document_series WHERE series = 'invoice'", "PB001"),
    *[C(f"truncate-{t}", f"TRUNCATE billing.{t} CASCADE", "PB001")
      for t in ("customer", "invoice", "payment", "allocation", "refund", "write_off", "invoice_dispute")],
    C("update-billed-quantity", "UPDATE billing.order_line SET billed_quantity = 0 WHERE order_id = %(o1)s", "PB002"),
    C("update-invoice-balance", "UPDATE billing.invoice_balance SET allocated = 0 WHERE invoice_id = %(inv1)s", "PB002"),
    C("insert-payment-balance", "INSERT INTO billing.payment_balance (customer_id, payment_id, amount)"
      " VALUES (%(c)s, %(pay1)s, 1)", "PB002"),
    C("rewind-series", "UPDATE billing.document_series SET next_no = 1", "PB002"),
    C("rewind-customer-series", "UPDATE billing.customer_document_series SET next_no = 1 WHERE customer_id = %(c)s",
      "PB002"),
    C("change-customer-id", "UPDATE billing.customer SET customer_id = DEFAULT WHERE customer_id = %(c)s", "55000"),
    C("insert-nan-payment", "INSERT INTO billing.payment (customer_id, payment_no, currency, amount, method_id)"
      " VALUES (%(c)s, 'X-1', 'EUR', 'NaN', 1)", "23514"),
    C("insert-infinite-order-line", "INSERT INTO billing.order_line (customer_id, order_id, line_no, product_id, quantity,"
      " unit_price) VALUES (%(c)s, %(o1)s, 9, 1, 'Infinity', 1)", "23514"),
    C("insert-line-into-issued-credit-note", "INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no,"
      " credited_invoice_id, credited_line_no, quantity, amount) VALUES (%(c)s, %(cn1)s, 9, %(inv1)s, 1, 1, 1)",
      "55000"),
    C("insert-nan-invoice-line", "INSERT INTO billing.invoice_line (customer_id, invoice_id, line_no, line_type, quantity,"
      " amount) VALUES (%(c)s, %(draft)s, 9, 'fee', 'NaN', 1)", "23514"),
    C("uncancel-order", "UPDATE billing.sales_order SET cancel_reason = 'never mind' WHERE order_id = %(o2)s", "55000"),
    C("update-resolved-dispute", "UPDATE billing.invoice_dispute SET reason = 'x' WHERE resolved_at IS NOT NULL", "PB001"),
]

# pgbilling's refusals (billing.fail) give a detail or a hint besides the message, except these rules, whose message
# alone names what is wrong: an unknown id (or one of another customer), a document or payment in the wrong state,
# history that never changes.
NO_ADVICE = {
    "invoice-of-other-customer-issued", "invoice-of-other-customer-credited", "invoice-of-other-customer-voided",
    "invoice-of-other-customer-resolved", "invoice-of-other-customer-written-off", "invoice-of-other-customer-paid",
    "payment-of-other-customer-allocated", "payment-of-other-customer-auto-allocated",
    "payment-of-other-customer-canceled", "payment-of-other-customer-refunded", "allocation-of-other-customer-reversed",
    "credit-note-of-other-customer-applied", "unknown-customer-statement", "unknown-invoice-issued",
    "unknown-invoice-gets-product-line", "unknown-invoice-gets-tax-line", "unknown-invoice-voided",
    "unknown-invoice-resolved", "unknown-payment-allocated", "unknown-payment-canceled", "unknown-payment-refunded",
    "unknown-allocation-reversed", "issue-issued-invoice", "allocate-to-draft", "allocate-from-canceled-payment",
    "auto-allocate-canceled-payment", "refund-from-canceled-payment", "cancel-payment-twice", "bill-canceled-order",
    "void-canceled-invoice", "credit-draft", "credit-credit-note", "dispute-draft", "resolve-undisputed-invoice",
    "write-off-draft", "write-off-canceled-invoice", "write-off-paid-invoice", "write-off-more-than-open",
    "empty-invoice-list", "delete-refund-part", "delete-write-off", "delete-payment-cancellation",
    "delete-invoice-cancellation", "delete-series", "update-resolved-dispute",
}

# A valid value for each required argument of each public API function (named notation; optional arguments are
# left to their defaults). NULL_CASES replace one argument at a time by NULL.
TEMPLATES: dict[str, dict[str, str]] = {
    "create_customer": {"p_name": "'Eve'"},
    "create_product": {"p_sku": "'C-3'", "p_name": "'Thing'"},
    "place_order": {"p_customer_id": "%(c)s", "p_currency": "'EUR'", "p_lines": f"'{ONE_LINE}'"},
    "add_order_line": {"p_customer_id": "%(c)s", "p_order_id": "%(o1)s", "p_sku": "'A-1'", "p_quantity": "1",
                       "p_unit_price": "1"},
    "add_order_charge": {"p_customer_id": "%(c)s", "p_order_id": "%(o1)s", "p_fee_code": "'HANDLING'", "p_amount": "2"},
    "bill_order": {"p_customer_id": "%(c)s", "p_order_id": "%(o1)s"},
    "create_invoice": {"p_customer_id": "%(c)s", "p_currency": "'EUR'"},
    "add_product_line": {"p_customer_id": "%(c)s", "p_invoice_id": "%(draft)s", "p_order_id": "%(o1)s",
                         "p_order_line_no": "1", "p_quantity": "1"},
    "add_fee_line": {"p_customer_id": "%(c)s", "p_invoice_id": "%(draft)s", "p_fee_code": "'ADMIN'", "p_amount": "5"},
    "add_discount_line": {"p_customer_id": "%(c)s", "p_invoice_id": "%(draft)s", "p_amount": "1",
                          "p_description": "'loyalty'"},
    "add_tax_line": {"p_customer_id": "%(c)s", "p_invoice_id": "%(draft)s", "p_tax_code": "'DE_VAT'", "p_rate": "0.19"},
    "add_memo_line": {"p_customer_id": "%(c)s", "p_invoice_id": "%(draft)s", "p_text": "'thanks'"},
    "issue_invoice": {"p_customer_id": "%(c)s", "p_invoice_id": "%(draft)s"},
    "issue_new_invoice": {"p_customer_id": "%(c)s", "p_currency": "'EUR'",
                          "p_lines": "'[{\"type\": \"fee\", \"fee_code\": \"ADMIN\", \"amount\": 5}]'"},
    "issue_credit_note": {"p_customer_id": "%(c)s", "p_invoice_id": "%(inv3)s"},
    "void_invoice": {"p_customer_id": "%(c)s", "p_invoice_id": "%(inv3)s", "p_reason": "'wrong address'"},
    "cancel_order": {"p_customer_id": "%(c)s", "p_order_id": "%(o1)s", "p_reason": "'withdrawn'"},
    "cancel_payment": {"p_customer_id": "%(c)s", "p_payment_id": "%(pay1)s", "p_reason": "'bounced'"},
    "dispute_invoice": {"p_customer_id": "%(c)s", "p_invoice_id": "%(inv3)s", "p_reason": "'too dear'"},
    "resolve_dispute": {"p_customer_id": "%(c)s", "p_invoice_id": "%(inv1)s"},
    "record_payment": {"p_customer_id": "%(c)s", "p_currency": "'EUR'", "p_amount": "1", "p_method": "'CASH'"},
    "allocate_payment": {"p_customer_id": "%(c)s", "p_payment_id": "%(pay3)s", "p_invoice_id": "%(inv3)s"},
    "apply_credit_note": {"p_customer_id": "%(c)s", "p_credit_note_id": "%(cn1)s", "p_invoice_id": "%(inv3)s"},
    "auto_allocate": {"p_customer_id": "%(c)s", "p_payment_id": "%(pay3)s", "p_strategy": "'oldest'"},
    "pay_invoices": {"p_customer_id": "%(c)s", "p_currency": "'EUR'", "p_amount": "1", "p_method": "'CASH'",
                     "p_invoice_ids": "ARRAY[%(inv3)s]::bigint[]"},
    "unallocate": {"p_customer_id": "%(c)s", "p_allocation_id": "%(alloc1)s"},
    "open_invoices": {"p_customer_id": "%(c)s", "p_currency": "'EUR'"},
    "refund": {"p_customer_id": "%(c)s", "p_currency": "'EUR'", "p_amount": "1", "p_method": "'CASH'"},
    "write_off": {"p_customer_id": "%(c)s", "p_invoice_id": "%(inv3)s"},
    "open_items": {"p_as_of": "now()"},
    "ar_aging": {"p_as_of": "now()"},
    "customer_statement": {"p_customer_id": "%(c)s", "p_from": "current_date - 30", "p_to": "current_date"},
    "tax_summary": {"p_from": "current_date - 30", "p_to": "current_date"},
    "revenue_by_line_type": {"p_from": "current_date - 30", "p_to": "current_date"},
}

# Arguments with a default other than NULL that take NULL to mean that default (documented in the function's comment).
NULL_MEANS_DEFAULT = {("record_payment", "p_received_at")}


def template_call(function: str, null: str | None = None) -> str:
    args = ", ".join(f"{a} => {'NULL' if a == null else v}" for a, v in TEMPLATES[function].items())
    return f"SELECT * FROM billing.{function}({args})"


NULL_CASES = [(f, a) for f, args in TEMPLATES.items() for a in args]


def api_functions() -> list[str]:
    """The functions README's "The SQL API by task" table lists."""
    section = README.read_text(encoding="utf-8").split("## The SQL API by task", 1)[1].split("\n## ", 1)[0]
    table = [line.split("|")[2] for line in section.splitlines() if line.startswith("| ") and line.count("|") >= 4]
    return sorted({name for cell in table[1:] for name in re.findall(r"`([a-z_]+)`", cell)})


def build_world(api: Api) -> dict[str, Any]:
    """Two customers in two currencies, with an order partly billed and one canceled, a draft, issued, paid,
    disputed, written-off and canceled invoices, a credit note, payments allocated, reversed,
    refunded and canceled; and the hostile strings."""
    api.create_product("A-1", "Widget")
    api.create_product("B-2", "Gadget")
    c, other = api.create_customer("Alice", "alice@example.com"), api.create_customer("Bob")
    w: dict[str, Any] = {"c": c, "other": other}
    w["o1"] = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": "10.00"},
                                         {"sku": "B-2", "quantity": 2, "unit_price": "25.00"}], "PO-1")
    api.add_order_charge(c, w["o1"], "SHIPPING", D("4.95"))
    w["inv1"] = api.bill_order(c, w["o1"], {"1": 4})  # 40.00 + 4.95 shipping; order line 1 has 6 units unbilled
    w["pay1"] = api.record_payment(c, "EUR", D("44.95"), "CASH", None, "GW-1")
    w["alloc1"] = api.allocate_payment(c, w["pay1"], w["inv1"])  # inv1 paid
    w["cn1"] = api.issue_credit_note(c, w["inv1"], [{"line_no": 1, "quantity": 1}], "returned")  # pay1 has 10.00 back
    w["alloc1"] = api.conn.execute("SELECT allocation_id FROM billing.active_allocation WHERE payment_id = %s",
                                   [w["pay1"]]).fetchone()[0]  # what pay1 still pays of inv1
    api.dispute_invoice(c, w["inv1"], "never received")
    w["o2"] = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 50}])
    w["inv2"] = api.bill_order(c, w["o2"])
    w["pay3"] = api.record_payment(c, "EUR", D("15.00"), "CARD")
    w["alloc_rev"] = api.allocate_payment(c, w["pay3"], w["inv2"], D("5.00"))
    w["reversal"] = api.unallocate(c, w["alloc_rev"], "wrong invoice")
    api.cancel_order(c, w["o2"], "customer withdrew")  # inv2 canceled by a void credit note
    api.refund(c, "EUR", D("1.00"), "BANK_TRANSFER", "overpaid", w["pay3"])  # pay3 has 14.00 left
    w["pay2"] = api.record_payment(c, "EUR", D("5.00"), "CARD")
    api.cancel_payment(c, w["pay2"], "bounced")
    w["o3"] = api.place_order(c, "EUR", [{"sku": "B-2", "quantity": 3, "unit_price": "12.50"}])
    w["inv3"] = api.bill_order(c, w["o3"])  # 37.50, open
    api.write_off(c, w["inv3"], D("2.50"), "small residue")
    w["draft"] = api.create_invoice(c, "EUR")
    api.add_fee_line(c, w["draft"], "LICENCE", D("100.00"))
    w["usd_draft"] = api.create_invoice(c, "USD")
    w["usd_pay"] = api.record_payment(c, "USD", 10, "CASH")
    w["ob"] = api.place_order(other, "USD", [{"sku": "B-2", "quantity": 1, "unit_price": 30}])
    w["inv_b"] = api.bill_order(other, w["ob"])
    w["pay_b"] = api.record_payment(other, "USD", 30, "PAYPAL")
    api.allocate_payment(other, w["pay_b"], w["inv_b"], 10)
    api.dispute_invoice(other, w["inv_b"], "late")
    api.resolve_dispute(other, w["inv_b"], "delivered after all")
    w.update(empty="", blank=" \t\n ", big=big(), drop=DROP)
    return w


@pytest.fixture(scope="module")
def hostile(postgresql_noproc) -> Iterator[tuple[psycopg.Connection, dict[str, Any]]]:  # noqa: ANN001
    """A database of this module, cloned from the migrated template, holding the world: (connection, world)."""
    proc = postgresql_noproc
    janitor = DatabaseJanitor(user=proc.user, host=proc.host, port=proc.port, password=proc.password,
                              dbname=f"pgbilling_hostile_{os.getpid()}", template_dbname=proc.template_dbname)
    with janitor, psycopg.connect(host=proc.host, port=proc.port, user=proc.user, password=proc.password,
                                  dbname=janitor.dbname, autocommit=True) as conn:
        yield conn, build_world(Api(conn))


def checksum(db: psycopg.Connection) -> tuple[str, dict[str, list[str]]]:
    rows = snapshot(db)
    return hashlib.md5(json.dumps(rows, sort_keys=True).encode()).hexdigest(), rows


def assert_refused(db: psycopg.Connection, sql: str, params: dict[str, Any], sqlstate: str, advice: bool) -> None:
    before, before_rows = checksum(db)
    with pytest.raises(psycopg.Error) as caught:
        db.execute(sql, params)  # autocommit: its own transaction, committed (deferred checks too) unless refused
    after, after_rows = checksum(db)
    diag = caught.value.diag
    assert diag.sqlstate == sqlstate, f"expected {sqlstate}, got {diag.sqlstate}: {diag.message_primary}"
    assert diag.message_primary, "a refusal without a message"
    assert len(diag.message_primary) < 1000, f"a message nobody can read: {diag.message_primary[:200]}..."
    if advice and "billing.fail(" in (diag.context or ""):
        assert diag.message_detail or diag.message_hint, f"no detail or hint: {diag.message_primary}"
    assert after == before, f"a refused call changed {[t for t in before_rows if before_rows[t] != after_rows.get(t)]}"


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 60 and len(CASES) + len(NULL_CASES) > 80
    assert len({c.id for c in CASES}) == len(CASES), "case ids repeat"
    assert NO_ADVICE <= {c.id for c in CASES}, "NO_ADVICE names a case that does not exist"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_call_is_refused_and_changes_nothing(hostile, case: Case) -> None:
    db, world = hostile
    assert_refused(db, case.sql, world, case.sqlstate, advice=case.id not in NO_ADVICE)


@pytest.mark.parametrize(("function", "argument"), NULL_CASES, ids=[f"{f}-{a}" for f, a in NULL_CASES])
def test_null_argument_is_refused_and_changes_nothing(hostile, function: str, argument: str) -> None:
    db, world = hostile
    assert_refused(db, template_call(function, argument), world, "22004", advice=False)


# A credit note issued now settles its invoice in full and holds no credit, so no world built through the API
# has credit for apply_credit_note (it applies credit that credit notes hold from before that rule): its
# template call is refused for that reason alone, and only once its arguments are all given.
HOLDS_NO_CREDIT = {"apply_credit_note"}


@pytest.mark.parametrize("function", list(TEMPLATES))
def test_template_calls_are_accepted(hostile, function: str) -> None:
    """Without the NULL each generated call succeeds, so the NULL alone is what the function refuses."""
    db, world = hostile
    if function in HOLDS_NO_CREDIT:
        assert_refused(db, template_call(function), world, "55000", advice=False)
        return
    with db.transaction(force_rollback=True):
        db.execute(template_call(function), world)
        db.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_null_cases_cover_every_required_argument(db) -> None:
    """Every function README lists, each argument without a default (or with a default other than NULL that does
    not take NULL to mean it): one generated case each, and no case for an argument that does not exist."""
    required: dict[str, set[str]] = {}
    for name, args, defaults, n_defaults in db.execute(
        "SELECT p.proname, p.proargnames[1:p.pronargs], coalesce(pg_get_expr(p.proargdefaults, 0), ''), p.pronargdefaults"
        " FROM pg_proc AS p WHERE p.pronamespace = 'billing'::regnamespace AND p.proname = ANY(%s)", [api_functions()]
    ):
        defaults = [d.strip() for d in re.split(r",(?![^(]*\))", defaults)] if n_defaults else []
        given = dict(zip(args[len(args) - n_defaults:], defaults))
        required.setdefault(name, set()).update(
            a for a in args
            if not given.get(a, "").startswith("NULL") and (name, a) not in NULL_MEANS_DEFAULT)
    assert set(required) == set(api_functions()), "a function README lists is missing from the catalog"
    generated = {(f, a) for f, a in NULL_CASES}
    expected = {(f, a) for f, args in required.items() for a in args}
    assert generated == expected, f"missing: {sorted(expected - generated)}; not required: {sorted(generated - expected)}"


@pytest.mark.parametrize("text", FRAGMENTS)
def test_sql_fragments_in_text_are_stored_verbatim(db, api, shop, text: str) -> None:
    """Text is data, never SQL: names, references, reasons and memos come back exactly as given."""
    c = api.create_customer(text, text)
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 10}], text)
    inv = api.bill_order(c, order)
    api.dispute_invoice(c, inv, text)
    api.resolve_dispute(c, inv, text)
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 1}], text)
    pay = api.record_payment(c, "EUR", 5, "CASH", None, text, text)
    draft = api.create_invoice(c, "EUR")
    api.add_memo_line(c, draft, text)
    api.add_fee_line(c, draft, "ADMIN", 1, text)
    api.cancel_payment(c, pay, text)
    api.cancel_order(c, order, text)
    stored = db.execute(
        "SELECT ARRAY[cu.name, cu.email, o.order_ref, o.cancel_reason, d.reason, d.resolution_note, cn.reason,"
        " p.payment_no, p.reference, m.memo, f.description, pc.cancel_reason]"
        " FROM billing.customer AS cu"
        " JOIN billing.sales_order AS o ON o.customer_id = cu.customer_id"
        " JOIN billing.invoice_dispute AS d ON d.customer_id = cu.customer_id"
        " JOIN billing.invoice AS cn ON cn.customer_id = cu.customer_id AND cn.invoice_id = %s"
        " JOIN billing.payment AS p ON p.customer_id = cu.customer_id"
        " JOIN billing.payment_cancellation AS pc ON pc.customer_id = cu.customer_id"
        " JOIN billing.invoice_memo_line AS m ON m.customer_id = cu.customer_id"
        " JOIN billing.invoice_line AS f ON f.customer_id = cu.customer_id AND f.invoice_id = %s AND f.line_type = 'fee'"
        " WHERE cu.customer_id = %s", [cn, draft, c]).fetchone()[0]
    assert stored == [text] * 12
    assert db.execute("SELECT to_regclass('billing.invoice') IS NOT NULL").fetchone()[0]


def test_nul_cannot_reach_a_text_argument(db, shop) -> None:
    """PostgreSQL text holds no NUL character: the driver refuses it before it is sent, PostgreSQL refuses chr(0) and
    \\u0000 in JSON before pgbilling sees them (so pgbilling needs no rule of its own)."""
    with pytest.raises(psycopg.DataError):
        db.execute("SELECT billing.create_customer(%s)", ["Eve\x00"])
    assert db.execute("SELECT count(*) FROM billing.customer").fetchone()[0] == 2
    refused(db, "54000", "SELECT billing.create_customer('Eve' || chr(0))")
    refused(db, "22P05", "SELECT billing.place_order(%s, 'EUR', %s::jsonb)",
            [shop["customer"], '[{"sku": "A-\\u0000", "quantity": 1, "unit_price": 1}]'])
