DROP TABLE billing.payment_return;
