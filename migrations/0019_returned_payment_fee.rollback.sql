-- Refused (23503) while an invoice bills the fee: those invoices are history.
DELETE FROM billing.fee
WHERE fee_code = 'RETURNED_PAYMENT';
