"""Orders, order lines and order charges: composite customer keys and bad input."""

from __future__ import annotations

from helpers import CITUS, D, refused, row


def place(api, customer: int, lines=None, ref=None, currency: str = "EUR") -> int:  # noqa: ANN001
    lines = lines or [{"sku": "A-1", "quantity": 10, "unit_price": "9.99"}, {"sku": "B-2", "quantity": 1, "unit_price": 100}]
    return api.place_order(customer, currency, lines, ref)


def test_place_order_records_lines_and_a_default_reference(db, api, shop) -> None:
    order = place(api, shop["customer"])
    summary = row(db, "SELECT * FROM billing.order_summary WHERE order_id = %s", [order])
    assert summary["order_ref"] == f"ORDER-{order}"
    assert summary["order_total"] == D("199.90") and summary["unbilled"] == D("199.90") and summary["invoiced"] == 0
    lines = db.execute("SELECT line_no, quantity, unit_price FROM billing.order_line WHERE order_id = %s ORDER BY 1", [order]).fetchall()
    assert lines == [(1, 10, D("9.99")), (2, 1, 100)]


def test_order_line_may_name_the_product_by_id(db, api, shop) -> None:
    product_id = db.execute("SELECT product_id FROM billing.product WHERE sku = 'B-2'").fetchone()[0]
    order = place(api, shop["customer"], [{"product_id": product_id, "quantity": 2, "unit_price": 5}])
    assert db.execute("SELECT product_id FROM billing.order_line WHERE order_id = %s", [order]).fetchone()[0] == product_id


def test_order_ref_is_unique_per_customer_only(db, api, shop) -> None:
    place(api, shop["customer"], ref="PO-1")
    place(api, shop["other"], ref="PO-1")
    refused(db, "23505", "SELECT billing.place_order(%s, 'EUR', '[{\"sku\":\"A-1\",\"quantity\":1,\"unit_price\":1}]', 'PO-1')",
            [shop["customer"]])


def test_order_charge_is_numbered_per_order(api, shop) -> None:
    order = place(api, shop["customer"])
    assert api.add_order_charge(shop["customer"], order, "SHIPPING", D("4.95")) == 1
    assert api.add_order_charge(shop["customer"], order, "HANDLING", D("1.00"), "gift wrap") == 2
    assert api.add_order_line(shop["customer"], order, "B-2", 3, D("2.50")) == 3


def test_unknown_references_are_refused(db, api, shop) -> None:
    c = shop["customer"]
    order = place(api, c)
    line = '[{"sku": "A-1", "quantity": 1, "unit_price": 1}]'
    refused(db, "23503", f"SELECT billing.place_order(999999, 'EUR', '{line}')")
    refused(db, "23503", f"SELECT billing.place_order(%s, 'XYZ', '{line}')", [c])
    refused(db, "23503", "SELECT billing.place_order(%s, 'EUR', '[{\"sku\": \"NOPE\", \"quantity\": 1, \"unit_price\": 1}]')", [c])
    refused(db, "23503", "SELECT billing.add_order_line(%s, %s, 'NOPE', 1, 1)", [c, order])
    refused(db, "23503", "SELECT billing.add_order_line(%s, 999999, 'A-1', 1, 1)", [c])
    refused(db, "23503", "SELECT billing.add_order_charge(%s, %s, 'NOPE', 1)", [c, order])


def test_order_of_another_customer_is_out_of_reach(db, api, shop) -> None:
    order = place(api, shop["customer"])
    refused(db, "23503", "SELECT billing.add_order_line(%s, %s, 'A-1', 1, 1)", [shop["other"], order])
    refused(db, "23503", "SELECT billing.add_order_charge(%s, %s, 'SHIPPING', 1)", [shop["other"], order])
    refused(db, "23503", "INSERT INTO billing.order_line (customer_id, order_id, line_no, product_id, quantity, unit_price)"
            " VALUES (%s, %s, 9, 1, 1, 1)", [shop["other"], order])


def test_bad_quantities_prices_and_amounts_are_refused(db, api, shop) -> None:
    c = shop["customer"]
    order = place(api, c)
    refused(db, "23514", "SELECT billing.add_order_line(%s, %s, 'A-1', 0, 1)", [c, order])
    refused(db, "23514", "SELECT billing.add_order_line(%s, %s, 'A-1', -2, 1)", [c, order])
    refused(db, "23514", "SELECT billing.add_order_line(%s, %s, 'A-1', 1, -0.01)", [c, order])
    refused(db, "23514", "SELECT billing.add_order_charge(%s, %s, 'SHIPPING', 0)", [c, order])
    refused(db, "23514", "SELECT billing.add_order_charge(%s, %s, 'SHIPPING', 4.955)", [c, order])
    yen = place(api, c, currency="JPY")
    refused(db, "23514", "SELECT billing.add_order_charge(%s, %s, 'SHIPPING', 500.5)", [c, yen])
    assert api.add_order_charge(c, yen, "SHIPPING", 500) == 1


def test_malformed_order_lines_and_nulls_are_refused(db, shop) -> None:
    c = shop["customer"]
    refused(db, "22023", "SELECT billing.place_order(%s, 'EUR', '[]')", [c])
    refused(db, "22023", "SELECT billing.place_order(%s, 'EUR', '{\"sku\": \"A-1\"}')", [c])
    refused(db, "22023", "SELECT billing.place_order(%s, 'EUR', '[{\"sku\": \"A-1\", \"quantity\": 1}]')", [c])
    refused(db, "22004", "SELECT billing.place_order(%s, 'EUR', NULL)", [c])
    refused(db, "22004", "SELECT billing.place_order(NULL, 'EUR', '[{\"sku\":\"A-1\",\"quantity\":1,\"unit_price\":1}]')")
    refused(db, "22004", "SELECT billing.create_customer(NULL)")
    refused(db, "23502", "INSERT INTO billing.sales_order (customer_id, order_ref, currency) VALUES (%s, NULL, 'EUR')", [c])


def test_billed_part_of_an_order_line_cannot_be_set_directly(db, api, shop) -> None:
    order = place(api, shop["customer"])
    refused(db, "PB002", "UPDATE billing.order_line SET billed_quantity = 1 WHERE order_id = %s AND line_no = 1", [order])
    refused(db, "PB002", "INSERT INTO billing.order_line (customer_id, order_id, line_no, product_id, quantity, unit_price,"
            " billed_quantity) VALUES (%s, %s, 9, 1, 5, 1, 5)", [shop["customer"], order])
    api.add_order_charge(shop["customer"], order, "SHIPPING", 5)
    refused(db, "PB002", "UPDATE billing.order_charge SET billed_amount = 5 WHERE order_id = %s", [order])


def test_canceled_order_takes_no_changes(db, api, shop) -> None:
    c = shop["customer"]
    order = place(api, c)
    api.cancel_order(c, order, "customer changed their mind")
    refused(db, "55000", "SELECT billing.add_order_line(%s, %s, 'A-1', 1, 1)", [c, order])
    refused(db, "55000", "SELECT billing.add_order_charge(%s, %s, 'SHIPPING', 1)", [c, order])
    refused(db, "55000", "SELECT billing.cancel_order(%s, %s, 'again')", [c, order])
    refused(db, "55000", "UPDATE billing.sales_order SET is_canceled = FALSE, canceled_time = NULL, cancel_reason = NULL"
            " WHERE order_id = %s", [order])
    refused(db, "55000", "SELECT billing.bill_order(%s, %s)", [c, order])


def test_customer_id_of_an_order_never_changes(db, api, shop) -> None:
    order = place(api, shop["customer"])
    # On Citus the distribution column cannot change at all: Citus itself refuses it first (0A000).
    refused(db, "0A000" if CITUS else "55000", "UPDATE billing.sales_order SET customer_id = %s WHERE order_id = %s",
            [shop["other"], order])
