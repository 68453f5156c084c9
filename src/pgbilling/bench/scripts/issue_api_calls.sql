-- Comparison 1, reported beside A: the same 5-line invoice as issue_api.sql, one API call per step
-- (create_invoice, an add_*_line per line, issue_invoice) in one transaction.
\set cid :first_customer + :client_id % :customers
BEGIN;
SELECT billing.create_invoice(:cid, 'EUR', current_date + 30) AS inv \gset
SELECT billing.add_fee_line(:cid, :inv, 'LICENCE', 120.00);
SELECT billing.add_fee_line(:cid, :inv, 'SHIPPING', 9.90);
SELECT billing.add_fee_line(:cid, :inv, 'HANDLING', 2.50);
SELECT billing.add_discount_line(:cid, :inv, 12.00, 'Loyalty discount', 1);
SELECT billing.add_tax_line(:cid, :inv, 'DE_VAT', 0.19);
SELECT billing.issue_invoice(:cid, :inv);
END;
