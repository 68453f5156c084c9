-- Comparison 1, B: the same rows as issue_api.sql (invoice, 5 lines, their subtype rows, the balance row) into
-- bench_bare's tables, which have primary keys and nothing else. No number series, no triggers, no checks.
\set cid :first_customer + :client_id % :customers
BEGIN;
INSERT INTO bench_bare.invoice (customer_id, currency, status, issued_at, due_date, total)
VALUES (:cid, 'EUR', 'issued', clock_timestamp(), current_date + 30, 143.28) RETURNING invoice_id AS inv \gset
INSERT INTO bench_bare.invoice_line (customer_id, invoice_id, line_no, line_type, quantity, amount, description)
VALUES (:cid, :inv, 1, 'fee', 1, 120.00, 'Licence fee'), (:cid, :inv, 2, 'fee', 1, 9.90, 'Shipping'),
    (:cid, :inv, 3, 'fee', 1, 2.50, 'Handling'), (:cid, :inv, 4, 'discount', 1, -12.00, 'Loyalty discount'),
    (:cid, :inv, 5, 'tax', 1, 22.88, 'Germany, Umsatzsteuer');
INSERT INTO bench_bare.invoice_fee_line (customer_id, invoice_id, line_no, fee_code)
VALUES (:cid, :inv, 1, 'LICENCE'), (:cid, :inv, 2, 'SHIPPING'), (:cid, :inv, 3, 'HANDLING');
INSERT INTO bench_bare.invoice_discount_line (customer_id, invoice_id, line_no, applies_to_line_no)
VALUES (:cid, :inv, 4, 1);
INSERT INTO bench_bare.invoice_tax_line (customer_id, invoice_id, line_no, tax_code, rate, taxable_amount)
VALUES (:cid, :inv, 5, 'DE_VAT', 0.19, 120.40);
INSERT INTO bench_bare.invoice_balance (customer_id, invoice_id, total) VALUES (:cid, :inv, 143.28);
END;
