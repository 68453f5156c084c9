-- TRUNCATE bypasses row triggers, so every table holding documents, their history or running totals refuses
-- it with a statement trigger (PB001). One list, applied after all the tables' other rules.
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY[
        'document_series', 'customer_document_series', 'invoice', 'invoice_line', 'invoice_product_line', 'invoice_fee_line',
        'invoice_discount_line', 'invoice_tax_line', 'invoice_memo_line', 'credit_note_line', 'invoice_balance',
        'invoice_cancellation', 'invoice_dispute', 'payment', 'payment_balance', 'payment_cancellation', 'allocation',
        'payment_return', 'refund', 'refund_part', 'write_off', 'chain_link', 'chain_head', 'global_chain_head'
    ] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER t05_%1$s_no_truncate BEFORE TRUNCATE ON billing.%1$I
            FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_truncate(%1$L)', v_table);
    END LOOP;
END
$$;
