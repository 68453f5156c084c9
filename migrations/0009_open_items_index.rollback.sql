DROP INDEX billing.payment_balance_open_idx;
DROP INDEX billing.invoice_balance_open_idx;
