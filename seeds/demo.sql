-- Demo data for `pgbilling demo` and `pgbilling seed demo`, written against the public SQL API only.
-- Scenarios: a partial shipment billed on two invoices, a fee added after billing on a supplementary
-- invoice, an invoice corrected by a credit note and a new invoice, an ad-hoc licence fee with no order,
-- a disputed invoice, an order canceled after it was paid, an order paid twice (before and after a late
-- charge), one payment for two invoices that leaves a little open credit, and an invoice not yet due.
-- Loading it twice adds a second set (new customers); `pgbilling demo` starts from an empty database.
DO $$
DECLARE
    v_ada bigint := billing.create_customer('Ada Lovelace', 'ada@example.com');
    v_grace bigint := billing.create_customer('Grace Hopper', 'grace@example.com');
    v_order bigint;
    v_invoice bigint;
    v_cables bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM billing.product WHERE sku = 'LAMP-01') THEN
        PERFORM billing.create_product('LAMP-01', 'Desk lamp', 'Brass, 40 cm');
        PERFORM billing.create_product('BULB-E27', 'LED bulb E27', '806 lm, warm white');
        PERFORM billing.create_product('CABLE-3M', 'Cable, 3 m', NULL);
    END IF;

    -- Partial shipment: 10 bulbs ordered, 8 shipped and billed, the other 2 later.
    v_order := billing.place_order(v_ada, 'EUR',
        '[{"sku": "LAMP-01", "quantity": 1, "unit_price": 89.00},
          {"sku": "BULB-E27", "quantity": 10, "unit_price": 4.95}]', 'ADA-2026-001');
    v_invoice := billing.bill_order(v_ada, v_order, '{"1": 1, "2": 8}', current_date + 14);
    PERFORM billing.allocate_payment(v_ada, billing.record_payment(v_ada, 'EUR', 128.60, 'CARD'), v_invoice);
    -- Shipping became known after she paid: a charge on the order, billed with the last 2 bulbs, paid again.
    PERFORM billing.add_order_charge(v_ada, v_order, 'SHIPPING', 6.90, 'Parcel, 2 boxes');
    v_invoice := billing.bill_order(v_ada, v_order, NULL, current_date + 30);
    PERFORM billing.allocate_payment(v_ada, billing.record_payment(v_ada, 'EUR', 16.80, 'PAYPAL'), v_invoice);

    -- An invoice corrected: 3 cables billed, 2 shipped; credit note for 1, then the tax on a new invoice.
    v_order := billing.place_order(v_grace, 'USD', '[{"sku": "CABLE-3M", "quantity": 3, "unit_price": 12.50}]');
    v_cables := billing.bill_order(v_grace, v_order);
    PERFORM billing.issue_credit_note(v_grace, v_cables, '[{"line_no": 1, "quantity": 1}]', 'Only 2 shipped');

    -- An ad-hoc licence fee with no order, with tax, then disputed by the customer.
    v_invoice := billing.create_invoice(v_grace, 'USD', current_date + 30);
    PERFORM billing.add_fee_line(v_grace, v_invoice, 'LICENCE', 250.00, 'Annual licence, design software');
    PERFORM billing.add_tax_line(v_grace, v_invoice, 'US_NY', 0.08875);
    PERFORM billing.add_memo_line(v_grace, v_invoice, 'Licence key sent by e-mail');
    PERFORM billing.issue_invoice(v_grace, v_invoice);
    PERFORM billing.dispute_invoice(v_grace, v_invoice, 'Licence was canceled last year');
    -- One bank transfer for both of Grace's invoices, rounded up: the rest is her open credit.
    PERFORM billing.pay_invoices(v_grace, 'USD', 300.00, 'BANK_TRANSFER', ARRAY[v_cables, v_invoice], 'Transfer 2026-118');

    -- An order canceled after it was invoiced and paid: the invoice is credited in full and reads canceled,
    -- the payment is refunded and canceled with the same time and reason.
    v_order := billing.place_order(v_ada, 'EUR', '[{"sku": "LAMP-01", "quantity": 2, "unit_price": 89.00}]', 'ADA-2026-002');
    v_invoice := billing.bill_order(v_ada, v_order);
    PERFORM billing.auto_allocate(v_ada, billing.record_payment(v_ada, 'EUR', 178.00, 'CARD'));
    PERFORM billing.cancel_order(v_ada, v_order, 'Customer found a cheaper offer');

    -- Still to be paid: a bulb order billed with 14 days to pay, so the aging report has something open.
    v_order := billing.place_order(v_ada, 'EUR', '[{"sku": "BULB-E27", "quantity": 20, "unit_price": 4.50}]', 'ADA-2026-003');
    PERFORM billing.bill_order(v_ada, v_order, NULL, current_date + 14);
END
$$;
