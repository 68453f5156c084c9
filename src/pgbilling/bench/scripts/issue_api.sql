-- Comparison 1, A: a 5-line invoice through pgbilling's API in one call (billing.issue_new_invoice: subtype rows,
-- triggers, gapless number, balance row, hash chain link). Client k bills customer first_customer + k % customers.
\set cid :first_customer + :client_id % :customers
SELECT billing.issue_new_invoice(:cid, 'EUR', '[{"type": "fee", "fee_code": "LICENCE", "amount": 120.00}, {"type": "fee", "fee_code": "SHIPPING", "amount": 9.90}, {"type": "fee", "fee_code": "HANDLING", "amount": 2.50}, {"type": "discount", "amount": 12.00, "description": "Loyalty discount", "applies_to_line_no": 1}, {"type": "tax", "tax_code": "DE_VAT", "rate": 0.19}]', current_date + 30);
