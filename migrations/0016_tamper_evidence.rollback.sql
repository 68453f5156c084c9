-- Removes the hash chains and what functions/88_chain.sql built on them: its triggers on other tables go first, so
-- the tables keep working with the functions of the release before (README, Rolling back). The links are lost; a
-- later migrate to 0016 links every entry again, as of then.
DROP TRIGGER IF EXISTS t30_invoice_chained ON billing.invoice;
DROP TRIGGER IF EXISTS t30_payment_chained ON billing.payment;
DROP TRIGGER IF EXISTS t30_refund_chained ON billing.refund_part;
DROP TRIGGER IF EXISTS t30_allocation_chained ON billing.allocation;
DROP FUNCTION IF EXISTS billing.verify_chain(bigint);
DROP FUNCTION IF EXISTS billing.chain_heads(bigint);
DROP FUNCTION IF EXISTS billing.chain_append(bigint, text, bigint);
DROP FUNCTION IF EXISTS billing.chain_of(bigint, text, bigint);
DROP FUNCTION IF EXISTS billing.chain_content(bigint, text, bigint);
DROP FUNCTION IF EXISTS billing.invoice_chained();
DROP FUNCTION IF EXISTS billing.payment_chained();
DROP FUNCTION IF EXISTS billing.refund_chained();
DROP FUNCTION IF EXISTS billing.allocation_chained();
DROP TABLE billing.chain_link, billing.chain_head, billing.global_chain_head;
DROP FUNCTION IF EXISTS billing.chain_link_rules();
DROP FUNCTION IF EXISTS billing.chain_head_rules();
