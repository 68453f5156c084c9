"""Money never leaks: credit notes settle the invoice they correct (releasing payments, whose part becomes
their cash credit, and write-offs, which simply go), only cash paid in is paid out, tax and discounts go back
with the goods, and reference data keeps its meaning. One test per finding of the money-integrity review."""

from __future__ import annotations

import threading

import psycopg
import pytest
from helpers import D, refused, row, wait_until_blocked


def fee_invoice(api, c: int, amount, currency: str = "EUR") -> int:  # noqa: ANN001
    inv = api.create_invoice(c, currency)
    api.add_fee_line(c, inv, "ADMIN", amount)
    api.issue_invoice(c, inv)
    return inv


def summary(db, inv: int) -> dict:  # noqa: ANN001
    return row(db, "SELECT is_canceled, open_amount, credited FROM billing.invoice_summary WHERE invoice_id = %s", [inv])


def balance(db, c: int, currency: str = "EUR") -> tuple:  # noqa: ANN001
    found = db.execute("SELECT receivable, open_credit FROM billing.customer_balance WHERE customer_id = %s AND currency = %s",
                       [c, currency]).fetchone()
    return found or (0, 0)


def cash_out(db, c: int) -> D:  # noqa: ANN001
    return db.execute("SELECT coalesce(sum(amount), 0) FROM billing.refund WHERE customer_id = %s", [c]).fetchone()[0]


def test_goodwill_credit_note_then_void_leaves_nothing_open_and_only_the_payment_refundable(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 100)
    p = api.record_payment(c, "EUR", 100, "CARD")
    api.allocate_payment(c, p, inv)
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 30}], "goodwill")
    # The credit note settles the invoice; the 30 the payment no longer pays is the payment's open credit.
    assert row(db, "SELECT open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [cn]) == {"open_amount": 0}
    assert row(db, "SELECT unallocated FROM billing.payment_summary WHERE payment_id = %s", [p]) == {"unallocated": 30}
    api.void_invoice(c, inv, "sold in error")
    assert summary(db, inv) == {"is_canceled": True, "open_amount": 0, "credited": 100}
    assert balance(db, c) == (0, 100)
    assert db.execute("SELECT count(*) FROM billing.open_invoices(%s, 'EUR')", [c]).fetchone()[0] == 0
    # Later payments allocate oldest first as usual: the canceled invoice is in no one's way.
    later = fee_invoice(api, c, 10)
    p2 = api.record_payment(c, "EUR", 10, "CARD")
    assert db.execute("SELECT invoice_id, amount FROM billing.auto_allocate(%s, %s)", [c, p2]).fetchall() == [(later, 10)]
    refused(db, "23514", "SELECT billing.refund(%s, 'EUR', 100.01, 'CARD')", [c])
    api.refund(c, "EUR", 100, "CARD")
    assert cash_out(db, c) == 100


def test_canceling_an_order_pays_out_no_more_than_was_paid_in(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": 10}])
    inv = api.bill_order(c, order)
    p = api.record_payment(c, "EUR", 100, "CARD")
    api.allocate_payment(c, p, inv)
    api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 3}], "returned")
    api.cancel_order(c, order, "customer changed their mind")
    assert cash_out(db, c) == 100
    assert summary(db, inv) == {"is_canceled": True, "open_amount": 0, "credited": 100}
    assert balance(db, c) == (0, 0)


def test_credit_note_on_a_written_off_invoice_gives_no_cash(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 100)
    api.write_off(c, inv)
    api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 30}])
    assert balance(db, c) == (0, 0)
    # The write-off shrank to what the credit note left: 70 written off, 30 credited, nothing open.
    assert row(db, "SELECT open_amount, written_off, credited FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "open_amount": 0, "written_off": 70, "credited": 30}
    refused(db, "23514", "SELECT billing.refund(%s, 'EUR', 30, 'CARD')", [c])


def test_credit_note_releases_write_offs_before_payments(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 100)
    p = api.record_payment(c, "EUR", 60, "CARD")
    api.allocate_payment(c, p, inv)
    api.write_off(c, inv)  # the other 40
    api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 50}])
    assert row(db, "SELECT paid, written_off, open_amount FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "paid": 50, "written_off": 0, "open_amount": 0}
    assert balance(db, c) == (0, 10)


def test_credit_notes_are_never_a_source_of_cash(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 100)
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 30}])
    settled = db.execute("SELECT allocation_id FROM billing.allocation WHERE credit_note_id = %s", [cn]).fetchone()[0]
    refused(db, "55000", "SELECT billing.unallocate(%s, %s)", [c, settled])
    refused(db, "55000", "WITH r AS (INSERT INTO billing.refund (customer_id, currency, amount, method_id)"
            " SELECT %s, 'EUR', 1, method_id FROM billing.payment_method LIMIT 1 RETURNING refund_id)"
            " INSERT INTO billing.refund_part (customer_id, refund_id, part_no, currency, credit_note_id, amount)"
            " SELECT %s, refund_id, 1, 'EUR', %s, 1 FROM r", [c, c, cn])


def test_a_refund_never_locks_a_payment_that_opened_after_it_started(db, db_url, api, shop) -> None:
    """The review's deadlock, made deterministic: refund A locks the open payment P2 and is held (by a test
    trigger) before it takes its parts; P1 opens meanwhile and refund B locks P1, then waits for P2. A must not
    reach for P1 now (it would deadlock, 40P01): it uses only what it locked."""
    c = shop["customer"]
    p1 = api.record_payment(c, "EUR", 10, "CARD")
    alloc = api.allocate_payment(c, p1, fee_invoice(api, c, 10))
    p2 = api.record_payment(c, "EUR", 10, "CARD")
    db.execute("CREATE FUNCTION billing.test_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
               " IF NEW.amount = 15 THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$")
    db.execute("CREATE TRIGGER t00_test_hold BEFORE INSERT ON billing.refund FOR EACH ROW EXECUTE FUNCTION billing.test_hold()")
    results: dict[str, object] = {}

    def refund(name: str, amount: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            try:
                results[name] = conn.execute("SELECT billing.refund(%s, 'EUR', %s, 'CARD')", [c, amount]).fetchone()[0]
            except psycopg.Error as exc:
                results[name] = exc

    with psycopg.connect(db_url, autocommit=True) as control:
        control.execute("SELECT pg_advisory_lock(4242)")
        a = threading.Thread(target=refund, args=("a", 15))
        a.start()
        wait_until_blocked(control)  # A holds P2 and waits at the test trigger
        api.unallocate(c, alloc)  # P1 is open now
        b = threading.Thread(target=refund, args=("b", 5))
        b.start()
        wait_until_blocked(control, sessions=2)  # B waits for P2 too
        control.execute("SELECT pg_advisory_unlock(4242)")
        a.join()
        b.join()
    assert isinstance(results["a"], psycopg.Error) and results["a"].sqlstate == "23514", results["a"]
    assert not isinstance(results["b"], psycopg.Error), results["b"]
    assert db.execute("SELECT payment_id, amount FROM billing.refund_part WHERE customer_id = %s", [c]).fetchall() == [(p1, 5)]
    assert p2 > p1


def taxed_order_invoice(api, c: int) -> tuple[int, int]:  # noqa: ANN001
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": 10}])
    inv = api.issue_new_invoice(c, "EUR", [
        {"type": "product", "order_id": order, "order_line_no": 1, "quantity": 10},
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19}])
    return order, inv


def test_returned_goods_take_their_tax_back(db, api, shop) -> None:
    c = shop["customer"]
    _, inv = taxed_order_invoice(api, c)
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [inv]) == {"total": D("119.00")}
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 3}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn]) == {"total": D("35.70")}
    api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 7}])
    assert row(db, "SELECT open_amount, credited FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "open_amount": 0, "credited": D("119.00")}
    taxes = db.execute("SELECT net_taxable, net_tax FROM billing.tax_summary(current_date, current_date)").fetchall()
    assert taxes == [(0, 0)]


def test_an_amount_credit_takes_its_tax_share_too(db, api, shop) -> None:
    c = shop["customer"]
    _, inv = taxed_order_invoice(api, c)
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 10}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn]) == {"total": D("11.90")}


@pytest.mark.parametrize(("currency", "quantity", "price", "discount"), [("EUR", 100, 1, 0.05), ("JPY", 3, 100, 1)])
def test_a_return_whose_discount_share_rounds_to_nothing_is_taken(db, api, shop, currency, quantity, price, discount) -> None:
    c = shop["customer"]
    order = api.place_order(c, currency, [{"sku": "A-1", "quantity": quantity, "unit_price": price}])
    inv = api.issue_new_invoice(c, currency, [
        {"type": "product", "order_id": order, "order_line_no": 1, "quantity": quantity},
        {"type": "discount", "amount": discount, "description": "loyalty", "applies_to_line_no": 1}])
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 1}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn]) == {"total": price}
    api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": quantity - 1}])  # the last units take the discount
    assert row(db, "SELECT open_amount, credited FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {
        "open_amount": 0, "credited": quantity * price - D(str(discount))}


def test_a_discount_larger_than_its_line_is_refused(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 5}, {"sku": "B-2", "quantity": 1, "unit_price": 50}])
    refused(db, "23514", "SELECT billing.issue_new_invoice(%s, 'EUR', %s)", [c, psycopg.types.json.Jsonb([
        {"type": "product", "order_id": order, "order_line_no": 1, "quantity": 2},
        {"type": "product", "order_id": order, "order_line_no": 2, "quantity": 1},
        {"type": "discount", "amount": 6, "description": "x", "applies_to_line_no": 1},
        {"type": "discount", "amount": 5, "description": "y", "applies_to_line_no": 1}])])
    inv = api.create_invoice(c, "EUR")
    api.add_product_line(c, inv, order, 1, 2)
    api.add_product_line(c, inv, order, 2, 1)
    refused(db, "23514", "SELECT billing.add_discount_line(%s, %s, 11, 'too much', 1)", [c, inv])


def test_order_shares_of_an_invoice_add_up_to_it(db, api, shop) -> None:
    c = shop["customer"]
    orders = [api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": p}])
              for p in ("33.33", "33.33", "33.34")]
    inv = api.issue_new_invoice(c, "EUR", [
        {"type": "product", "order_id": o, "order_line_no": 1, "quantity": 1} for o in orders])
    api.allocate_payment(c, api.record_payment(c, "EUR", 50, "CARD"), inv)
    shares = db.execute("SELECT sum(paid), sum(open_amount) FROM billing.order_summary WHERE order_id = ANY(%s)",
                        [orders]).fetchone()
    assert shares == (50, 50)


def test_reference_data_in_use_keeps_its_meaning(db, api, shop) -> None:
    c = shop["customer"]
    api.record_payment(c, "EUR", D("10.50"), "CARD")
    refused(db, "PB001", "UPDATE billing.currency SET minor_units = 0 WHERE code = 'EUR'")
    refused(db, "PB001", "UPDATE billing.payment_method SET code = 'PLASTIC' WHERE code = 'CARD'")
    api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 1}])
    refused(db, "PB001", "UPDATE billing.product SET sku = 'A-9' WHERE sku = 'A-1'")
    # Unused rows, names and new rows stay editable.
    db.execute("UPDATE billing.currency SET minor_units = 3 WHERE code = 'JPY'")
    db.execute("UPDATE billing.payment_method SET name = 'Card payment' WHERE code = 'CARD'")
    db.execute("UPDATE billing.product SET sku = 'B-9' WHERE sku = 'B-2'")


def test_generated_payment_numbers_skip_numbers_callers_took(db, api, shop) -> None:
    c = shop["customer"]
    first = api.record_payment(c, "EUR", 1, "CASH")
    for ahead in (2, 3):  # the caller's numbers run ahead of the ids
        api.record_payment(c, "EUR", 2, "CASH", None, f"PAY-{first + ahead + 1}")
    later = api.record_payment(c, "EUR", 3, "CASH")
    assert later == first + 5  # first + 3 and first + 4 were taken: skipped
    assert row(db, "SELECT payment_no, amount FROM billing.payment WHERE payment_id = %s", [later]) == {
        "payment_no": f"PAY-{later}", "amount": 3}
    err = refused(db, "23505", "SELECT billing.record_payment(%s, 'EUR', 9, 'CASH', NULL, %s)", [c, f"PAY-{first + 3}"])
    assert f"PAY-{first + 3}" in err.diag.message_primary


def test_tax_never_goes_back_on_its_own_nor_stays_behind(db, api, shop) -> None:
    c = shop["customer"]
    _, inv = taxed_order_invoice(api, c)
    refused(db, "23514", "SELECT billing.issue_credit_note(%s, %s, '[{\"line_no\": 2, \"amount\": 5}]')", [c, inv])
    # Direct SQL that credits goods but leaves their tax behind is refused at issue as well.
    with pytest.raises(psycopg.Error) as caught, db.transaction():
        draft = db.execute("INSERT INTO billing.invoice (customer_id, kind, currency, credited_invoice_id)"
                           " VALUES (%s, 'credit_note', 'EUR', %s) RETURNING invoice_id", [c, inv]).fetchone()[0]
        db.execute("INSERT INTO billing.credit_note_line (customer_id, credit_note_id, line_no, credited_invoice_id,"
                   " credited_line_no, amount) VALUES (%s, %s, 1, %s, 1, 10)", [c, draft, inv])
        db.execute("SELECT billing.issue_invoice(%s, %s)", [c, draft])
    assert caught.value.sqlstate == "23514"
    assert row(db, "SELECT credited FROM billing.invoice_summary WHERE invoice_id = %s", [inv]) == {"credited": 0}


def test_a_bounce_after_a_refund_is_owed_by_the_customer(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 60)
    p = api.record_payment(c, "EUR", 100, "CARD")
    api.allocate_payment(c, p, inv)
    api.refund(c, "EUR", 40, "CARD")
    api.cancel_payment(c, p, "chargeback")  # a fact from the bank: never refused
    debit = db.execute("SELECT invoice_id, total FROM billing.invoice_summary AS s WHERE customer_id = %s"
                       " AND invoice_id <> %s AND kind = 'invoice'", [c, inv]).fetchall()
    assert [t for _, t in debit] == [40]
    assert db.execute("SELECT fee_code FROM billing.invoice_fee_line WHERE invoice_id = %s", [debit[0][0]]).fetchone() == (
        "RETURNED_PAYMENT",)
    # The invoice is open again and the refunded 40 is owed: 100 receivable, no credit, as the cash says.
    assert balance(db, c) == (100, 0)


def discounted_invoice(api, c: int, applies_to: int | None) -> int:  # noqa: ANN001
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 10, "unit_price": 10}])
    return api.issue_new_invoice(c, "EUR", [
        {"type": "product", "order_id": order, "order_line_no": 1, "quantity": 10},
        {"type": "discount", "amount": 50, "description": "half price",
         **({"applies_to_line_no": applies_to} if applies_to else {})},
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19}])  # 100 - 50 + 9.50 = 59.50


@pytest.mark.parametrize("applies_to", [1, None])
def test_returned_units_take_back_their_discount_whether_it_names_a_line_or_not(db, api, shop, applies_to) -> None:
    c = shop["customer"]
    inv = discounted_invoice(api, c, applies_to)
    api.allocate_payment(c, api.record_payment(c, "EUR", D("59.50"), "CARD"), inv)
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 5}])
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn]) == {"total": D("29.75")}
    assert balance(db, c) == (0, D("29.75"))


def test_a_discount_named_in_a_return_must_be_its_share(db, api, shop) -> None:
    c = shop["customer"]
    inv = discounted_invoice(api, c, 1)
    refused(db, "23514", "SELECT billing.issue_credit_note(%s, %s, %s)",
            [c, inv, psycopg.types.json.Jsonb([{"line_no": 1, "quantity": 5}, {"line_no": 2, "amount": 0.01}])])
    refused(db, "23514", "SELECT billing.issue_credit_note(%s, %s, %s)",
            [c, inv, psycopg.types.json.Jsonb([{"line_no": 2, "amount": 10}])])  # the discount on its own
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 5}, {"line_no": 2, "amount": 25}])  # its share
    assert row(db, "SELECT total FROM billing.invoice WHERE invoice_id = %s", [cn]) == {"total": D("29.75")}


def test_a_discount_applies_to_goods_and_a_tax_line_follows_its_base(db, api, shop) -> None:
    c = shop["customer"]
    refused(db, "23514", "SELECT billing.issue_new_invoice(%s, 'EUR', %s)", [c, psycopg.types.json.Jsonb([
        {"type": "fee", "fee_code": "ADMIN", "amount": 100},
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19},
        {"type": "discount", "amount": 1, "description": "off the tax", "applies_to_line_no": 2}])])
    refused(db, "23514", "SELECT billing.issue_new_invoice(%s, 'EUR', %s)", [c, psycopg.types.json.Jsonb([
        {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19, "taxable_amount": 100},
        {"type": "fee", "fee_code": "ADMIN", "amount": 100}])])


def test_canceling_one_order_of_a_shared_invoice_refunds_nothing_automatically(db, api, shop) -> None:
    c = shop["customer"]
    a = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 20}])
    b = api.place_order(c, "EUR", [{"sku": "B-2", "quantity": 1, "unit_price": 60}])
    inv = api.issue_new_invoice(c, "EUR", [{"type": "product", "order_id": o, "order_line_no": 1, "quantity": 1}
                                           for o in (a, b)])
    p = api.record_payment(c, "EUR", 80, "CARD")
    api.allocate_payment(c, p, inv)
    api.cancel_order(c, a, "A withdrawn")
    # The payment was not wholly for order A: it keeps its 80 as open credit for B, billed again.
    assert cash_out(db, c) == 0
    assert row(db, "SELECT unallocated, is_canceled FROM billing.payment_summary WHERE payment_id = %s", [p]) == {
        "unallocated": 80, "is_canceled": False}
    again = api.bill_order(c, b)
    assert db.execute("SELECT invoice_id, amount FROM billing.auto_allocate(%s, %s)", [c, p]).fetchall() == [(again, 60)]


def test_canceling_an_order_while_its_invoice_is_voided_waits_and_succeeds(db, db_url, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 30}])
    inv = api.bill_order(c, order)
    result: dict[str, object] = {}

    def cancel() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            try:
                conn.execute("SELECT billing.cancel_order(%s, %s, 'withdrawn')", [c, order])
                result["cancel"] = "done"
            except psycopg.Error as exc:
                result["cancel"] = exc

    with psycopg.connect(db_url) as voiding:
        voiding.execute("SELECT billing.void_invoice(%s, %s, 'wrong address')", [c, inv])
        thread = threading.Thread(target=cancel)
        thread.start()
        wait_until_blocked(db)
        voiding.commit()
        thread.join()
    assert result["cancel"] == "done", result["cancel"]
    assert row(db, "SELECT is_canceled FROM billing.order_summary WHERE order_id = %s", [order]) == {"is_canceled": True}


def test_an_invoice_wide_discount_is_spread_over_the_orders_not_doubled(db, api, shop) -> None:
    c = shop["customer"]
    inv = discounted_invoice(api, c, None)  # 100 - 50 + 9.50
    api.allocate_payment(c, api.record_payment(c, "EUR", 30, "CARD"), inv)
    order = db.execute("SELECT order_id FROM billing.invoice_product_line WHERE invoice_id = %s", [inv]).fetchone()[0]
    assert row(db, "SELECT paid, open_amount FROM billing.order_summary WHERE order_id = %s", [order]) == {
        "paid": 30, "open_amount": D("29.50")}
    assert str(row(db, "SELECT paid FROM billing.order_summary WHERE order_id = %s", [order])["paid"]) == "30.00"


def test_allocating_all_to_a_wrong_target_names_the_target_not_the_amount(db, api, shop) -> None:
    c = shop["customer"]
    inv = fee_invoice(api, c, 10)
    cn = api.issue_credit_note(c, inv)  # settles it: nothing open
    usd = fee_invoice(api, c, 10, "USD")
    api.allocate_payment(c, api.record_payment(c, "USD", 10, "CARD"), usd)  # paid: nothing open
    p = api.record_payment(c, "EUR", 5, "CARD")
    refused(db, "23503", "SELECT billing.allocate_payment(%s, %s, %s)", [c, p, cn])  # a credit note
    refused(db, "23503", "SELECT billing.allocate_payment(%s, %s, %s)", [c, p, usd])  # another currency
    refused(db, "55000", "SELECT billing.allocate_payment(%s, %s, %s)", [c, p, inv])  # nothing open


def test_a_chargeback_after_the_order_cancellation_refunded_the_payment_is_recorded_and_owed(db, api, shop) -> None:
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 1, "unit_price": 30}])
    p = api.record_payment(c, "EUR", 30, "CARD")
    api.allocate_payment(c, p, api.bill_order(c, order))
    api.cancel_order(c, order, "customer withdrew")  # refunds the 30 and cancels the payment
    assert cash_out(db, c) == 30
    api.cancel_payment(c, p, "card chargeback")  # the bank takes the 30 back too: a fact, recorded
    owed = row(db, "SELECT r.invoice_id, i.total FROM billing.payment_return AS r JOIN billing.invoice AS i"
                   " USING (customer_id, invoice_id) WHERE r.payment_id = %s", [p])
    assert owed["total"] == 30 and balance(db, c) == (30, 0)
    refused(db, "55000", "SELECT billing.cancel_payment(%s, %s, 'again')", [c, p])
    refused(db, "PB001", "DELETE FROM billing.payment_return WHERE payment_id = %s", [p])
