-- 0019_returned_payment_fee: the fee a customer owes when a payment is returned (bounced, charged back) after
-- part of it was refunded: the refund was cash paid out against cash that never arrived. billing.cancel_payment
-- bills it. One row in a small table; no lock that blocks writes on large tables.
INSERT INTO billing.fee (fee_code, name) VALUES ('RETURNED_PAYMENT', 'Refund of a returned payment');
