"""Payments and allocation: recording, idempotency, applying, reversing, canceling, credit notes as credit."""

from __future__ import annotations

import pytest
from helpers import D, refused, row


@pytest.fixture
def billed(api, shop) -> dict[str, int]:
    """Two orders of the customer, each billed: invoices of 100.00 and 50.00 EUR."""
    c = shop["customer"]
    first = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": 10}])
    second = api.place_order(c, "EUR", [{"sku": "B-2", "quantity": 1, "unit_price": 50}])
    return {"c": c, "other": shop["other"], "first_order": first, "inv1": api.bill_order(c, first),
            "inv2": api.bill_order(c, second)}


def invoice(db, invoice_id: int) -> dict:
    return row(db, "SELECT paid, open_amount, payment_status FROM billing.invoice_summary WHERE invoice_id = %s", [invoice_id])


def payment(db, payment_id: int) -> dict:
    return row(db, "SELECT allocated, unallocated, is_canceled FROM billing.payment_summary WHERE payment_id = %s", [payment_id])


def test_recording_is_idempotent_on_the_payment_number(db, api, billed) -> None:
    c = billed["c"]
    first = api.record_payment(c, "EUR", D("30.00"), "CASH", None, "GW-1001", "receipt 7")
    assert api.record_payment(c, "EUR", D("30"), "CASH", None, "GW-1001") == first
    assert db.execute("SELECT count(*) FROM billing.payment").fetchone()[0] == 1
    refused(db, "23505", "SELECT billing.record_payment(%s, 'EUR', 31, 'CASH', NULL, 'GW-1001')", [c])
    refused(db, "23505", "SELECT billing.record_payment(%s, 'EUR', 30, 'CARD', NULL, 'GW-1001')", [c])
    # numbers are per customer (a key of a customer-owned table holds customer_id): another customer's is another payment
    assert api.record_payment(billed["other"], "EUR", 30, "CASH", None, "GW-1001") != first
    generated = api.record_payment(c, "USD", 5, "CARD")
    assert row(db, "SELECT payment_no FROM billing.payment WHERE payment_id = %s", [generated])["payment_no"] == f"PAY-{generated}"


def test_bad_payments_are_refused(db, billed) -> None:
    c = billed["c"]
    refused(db, "23503", "SELECT billing.record_payment(%s, 'EUR', 10, 'BITCOIN')", [c])
    refused(db, "23503", "SELECT billing.record_payment(999999, 'EUR', 10, 'CASH')")
    refused(db, "23503", "SELECT billing.record_payment(%s, 'XYZ', 10, 'CASH')", [c])
    refused(db, "23514", "SELECT billing.record_payment(%s, 'EUR', 0, 'CASH')", [c])
    refused(db, "23514", "SELECT billing.record_payment(%s, 'EUR', 10.001, 'CASH')", [c])
    refused(db, "23514", "SELECT billing.record_payment(%s, 'JPY', 10.5, 'CASH')", [c])
    refused(db, "22004", "SELECT billing.record_payment(%s, 'EUR', NULL, 'CASH')", [c])
    refused(db, "22004", "SELECT billing.record_payment(%s, 'EUR', 10, NULL)", [c])


def test_payments_allocations_and_cancellations_never_change(db, api, billed) -> None:
    c = billed["c"]
    p = api.record_payment(c, "EUR", 10, "CASH")
    a = api.allocate_payment(c, p, billed["inv1"])
    api.cancel_payment(c, p, "bounced")
    for table, key in (("payment", "payment_id"), ("allocation", "allocation_id"), ("payment_cancellation", "payment_id")):
        value = p if key == "payment_id" else a
        refused(db, "PB001", f"UPDATE billing.{table} SET customer_id = customer_id WHERE {key} = %s", [value])
        refused(db, "PB001", f"DELETE FROM billing.{table} WHERE {key} = %s", [value])
        refused(db, "PB001", f"TRUNCATE billing.{table} CASCADE")
    refused(db, "PB002", "UPDATE billing.payment_balance SET allocated = 0")
    refused(db, "PB002", "UPDATE billing.invoice_balance SET allocated = 0")


def test_split_tender_thirty_percent_cash_seventy_percent_card(db, api, billed) -> None:
    c, inv = billed["c"], billed["inv1"]
    cash, card = api.record_payment(c, "EUR", 30, "CASH"), api.record_payment(c, "EUR", 70, "CARD")
    api.allocate_payment(c, cash, inv)
    assert invoice(db, inv) == {"paid": 30, "open_amount": 70, "payment_status": "partially_paid"}
    api.allocate_payment(c, card, inv)
    assert invoice(db, inv) == {"paid": 100, "open_amount": 0, "payment_status": "paid"}


def test_one_payment_pays_invoices_of_two_orders_and_keeps_the_rest(db, api, billed) -> None:
    c = billed["c"]
    p = api.record_payment(c, "EUR", 160, "BANK_TRANSFER")
    api.allocate_payment(c, p, billed["inv1"])
    api.allocate_payment(c, p, billed["inv2"])
    assert (invoice(db, billed["inv1"])["payment_status"], invoice(db, billed["inv2"])["payment_status"]) == ("paid", "paid")
    assert payment(db, p) == {"allocated": 150, "unallocated": 10, "is_canceled": False}


def test_allocation_never_exceeds_either_side(db, api, billed) -> None:
    c = billed["c"]
    small, big = api.record_payment(c, "EUR", 20, "CASH"), api.record_payment(c, "EUR", 500, "CARD")
    refused(db, "23514", "SELECT billing.allocate_payment(%s, %s, %s, 25)", [c, small, billed["inv1"]])
    refused(db, "23514", "SELECT billing.allocate_payment(%s, %s, %s, 101)", [c, big, billed["inv1"]])
    api.allocate_payment(c, big, billed["inv1"])  # the default: as much as both allow
    assert payment(db, big)["allocated"] == 100
    refused(db, "55000", "SELECT billing.allocate_payment(%s, %s, %s)", [c, small, billed["inv1"]])
    refused(db, "23514", "SELECT billing.allocate_payment(%s, %s, %s, 0)", [c, small, billed["inv2"]])
    refused(db, "23514", "SELECT billing.allocate_payment(%s, %s, %s, 1.005)", [c, small, billed["inv2"]])
    refused(db, "23514", "INSERT INTO billing.allocation (customer_id, currency, invoice_id, payment_id, amount)"
            " VALUES (%s, 'EUR', %s, %s, 21)", [c, billed["inv2"], small])


def test_allocation_stays_within_one_customer_and_currency(db, api, billed) -> None:
    c, other = billed["c"], billed["other"]
    theirs = api.record_payment(other, "EUR", 50, "CASH")
    dollars = api.record_payment(c, "USD", 50, "CASH")
    refused(db, "23503", "SELECT billing.allocate_payment(%s, %s, %s)", [other, theirs, billed["inv1"]])
    refused(db, "23503", "SELECT billing.allocate_payment(%s, %s, %s)", [c, theirs, billed["inv1"]])
    refused(db, "23503", "SELECT billing.allocate_payment(%s, %s, %s, 10)", [c, dollars, billed["inv1"]])
    refused(db, "23503", "INSERT INTO billing.allocation (customer_id, currency, invoice_id, payment_id, amount)"
            " VALUES (%s, 'EUR', %s, %s, 10)", [other, billed["inv1"], theirs])


def test_allocation_only_to_issued_invoices(db, api, billed) -> None:
    c = billed["c"]
    p = api.record_payment(c, "EUR", 50, "CASH")
    draft = api.create_invoice(c, "EUR")
    api.add_fee_line(c, draft, "ADMIN", 10)
    cn = api.issue_credit_note(c, billed["inv2"], [{"line_no": 1, "amount": 5}])
    refused(db, "55000", "SELECT billing.allocate_payment(%s, %s, %s, 10)", [c, p, draft])
    refused(db, "23503", "SELECT billing.allocate_payment(%s, %s, %s, 1)", [c, p, cn])


def test_unallocate_appends_a_reversal_and_reopens_the_invoice(db, api, billed) -> None:
    c, inv = billed["c"], billed["inv1"]
    p = api.record_payment(c, "EUR", 100, "CARD")
    a = api.allocate_payment(c, p, inv)
    r = api.unallocate(c, a, "wrong invoice")
    assert invoice(db, inv) == {"paid": 0, "open_amount": 100, "payment_status": "open"}
    assert payment(db, p)["unallocated"] == 100
    history = db.execute("SELECT allocation_id, amount, reverses_allocation_id FROM billing.allocation ORDER BY 1").fetchall()
    assert history == [(a, 100, None), (r, -100, a)]
    refused(db, "55000", "SELECT billing.unallocate(%s, %s)", [c, a])
    refused(db, "55000", "SELECT billing.unallocate(%s, %s)", [c, r])
    refused(db, "23503", "SELECT billing.unallocate(%s, %s)", [billed["other"], a])
    api.allocate_payment(c, p, billed["inv2"])
    assert payment(db, p)["unallocated"] == 50


def test_bounced_payment_reopens_the_invoices_it_paid(db, api, billed) -> None:
    c = billed["c"]
    p = api.record_payment(c, "EUR", 150, "BANK_TRANSFER")
    api.allocate_payment(c, p, billed["inv1"])
    api.allocate_payment(c, p, billed["inv2"])
    api.cancel_payment(c, p, "transfer bounced")
    assert invoice(db, billed["inv1"])["open_amount"] == 100 and invoice(db, billed["inv2"])["open_amount"] == 50
    summary = row(db, "SELECT unallocated, is_canceled, cancel_reason FROM billing.payment_summary WHERE payment_id = %s", [p])
    assert summary == {"unallocated": 0, "is_canceled": True, "cancel_reason": "transfer bounced"}
    refused(db, "55000", "SELECT billing.cancel_payment(%s, %s, 'again')", [c, p])
    refused(db, "55000", "SELECT billing.allocate_payment(%s, %s, %s, 1)", [c, p, billed["inv1"]])
    refused(db, "22004", "SELECT billing.cancel_payment(%s, %s, NULL)", [c, api.record_payment(c, "EUR", 1, "CASH")])


def test_credit_note_settles_its_invoice_and_what_a_payment_paid_of_it_goes_back_to_the_payment(db, api, billed) -> None:
    c, inv = billed["c"], billed["inv1"]
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 2}])  # 20.00 against an unpaid 100.00
    assert invoice(db, inv)["open_amount"] == 80
    p = api.record_payment(c, "EUR", 80, "CARD")
    api.allocate_payment(c, p, inv)
    late = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 3}])  # 30.00, the invoice is paid
    # The credit note holds no credit: it settles its invoice, and the 30 the payment no longer pays is cash
    # the customer paid in, the payment's open credit.
    assert row(db, "SELECT open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [late])["open_amount"] == 0
    assert row(db, "SELECT open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [cn])["open_amount"] == 0
    assert invoice(db, inv) == {"paid": 50, "open_amount": 0, "payment_status": "paid"}
    assert row(db, "SELECT unallocated FROM billing.payment_summary WHERE payment_id = %s", [p]) == {"unallocated": 30}
    refused(db, "55000", "SELECT billing.apply_credit_note(%s, %s, %s)", [c, late, billed["inv2"]])
    api.allocate_payment(c, p, billed["inv2"])
    assert invoice(db, billed["inv2"]) == {"paid": 30, "open_amount": 20, "payment_status": "partially_paid"}
    settled = api.issue_credit_note(c, billed["inv2"])  # all of inv2 credited: the payment gets its 30 back
    assert invoice(db, billed["inv2"]) == {"paid": 0, "open_amount": 0, "payment_status": "credited"}
    assert row(db, "SELECT unallocated FROM billing.payment_summary WHERE payment_id = %s", [p]) == {"unallocated": 30}
    assert row(db, "SELECT open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [settled])["open_amount"] == 0
