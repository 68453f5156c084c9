"""Disputing an issued invoice and resolving the dispute; the invoice itself never changes."""

from __future__ import annotations

from helpers import refused, row


def test_dispute_and_resolution_are_recorded_without_touching_the_invoice(db, api, shop) -> None:
    c = shop["customer"]
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "ADMIN", 10)
    api.issue_invoice(c, inv)
    before = db.execute("SELECT i::text FROM billing.invoice AS i WHERE invoice_id = %s", [inv]).fetchone()
    api.dispute_invoice(c, inv, "never received the goods")
    assert row(db, "SELECT is_disputed FROM billing.invoice_summary WHERE invoice_id = %s", [inv])["is_disputed"] is True
    refused(db, "23505", "SELECT billing.dispute_invoice(%s, %s, 'again')", [c, inv])
    api.resolve_dispute(c, inv, "proof of delivery sent")
    assert row(db, "SELECT is_disputed FROM billing.invoice_summary WHERE invoice_id = %s", [inv])["is_disputed"] is False
    refused(db, "55000", "SELECT billing.resolve_dispute(%s, %s)", [c, inv])
    api.dispute_invoice(c, inv, "wrong quantity")
    disputes = db.execute("SELECT dispute_no, reason, resolved_at IS NOT NULL, resolution_note FROM billing.invoice_dispute"
                          " WHERE invoice_id = %s ORDER BY 1", [inv]).fetchall()
    assert disputes == [(1, "never received the goods", True, "proof of delivery sent"), (2, "wrong quantity", False, None)]
    assert db.execute("SELECT i::text FROM billing.invoice AS i WHERE invoice_id = %s", [inv]).fetchone() == before


def test_only_issued_invoices_can_be_disputed_and_history_stays(db, api, shop) -> None:
    c = shop["customer"]
    draft = api.create_invoice(c, "EUR")
    refused(db, "55000", "SELECT billing.dispute_invoice(%s, %s, 'x')", [c, draft])
    refused(db, "23503", "SELECT billing.dispute_invoice(%s, 999999, 'x')", [c])
    refused(db, "22004", "SELECT billing.dispute_invoice(%s, %s, NULL)", [c, draft])
    api.add_fee_line(c, draft, "ADMIN", 10)
    api.issue_invoice(c, draft)
    api.dispute_invoice(c, draft, "too expensive")
    refused(db, "55000", "UPDATE billing.invoice_dispute SET reason = 'other' WHERE invoice_id = %s", [draft])
    refused(db, "PB001", "DELETE FROM billing.invoice_dispute WHERE invoice_id = %s", [draft])
    api.resolve_dispute(c, draft)
    refused(db, "PB001", "UPDATE billing.invoice_dispute SET resolution_note = 'later' WHERE invoice_id = %s", [draft])
