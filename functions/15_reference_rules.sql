-- Reference data that documents use keeps its meaning: rows can be added, and named or described anew, but what
-- a recorded document reads through them (a currency's minor units, a payment method's code, a product's SKU)
-- never changes once one uses them. Codes that documents store (currency, fee, tax code) are kept by their
-- foreign keys already.

CREATE OR REPLACE FUNCTION billing.reference_in_use() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    -- As JSON, so one function serves three tables (plpgsql_check sees NEW as the first table's row otherwise).
    v_old jsonb := to_jsonb(OLD);
    v_new jsonb := to_jsonb(NEW);
    v_column text := CASE TG_ARGV[0] WHEN 'currency' THEN 'minor_units' WHEN 'payment_method' THEN 'code' ELSE 'sku' END;
    v_changed text;
    v_in_use boolean;
BEGIN
    IF v_new -> v_column IS NOT DISTINCT FROM v_old -> v_column THEN
        RETURN NEW;
    END IF;
    -- TG_ARGV, not TG_TABLE_NAME: on a Citus worker that is the shard's name.
    v_in_use := CASE TG_ARGV[0]
        WHEN 'currency' THEN EXISTS (SELECT FROM billing.sales_order AS o WHERE o.currency = v_old ->> 'code')
            OR EXISTS (SELECT FROM billing.invoice AS i WHERE i.currency = v_old ->> 'code')
            OR EXISTS (SELECT FROM billing.payment AS p WHERE p.currency = v_old ->> 'code')
            OR EXISTS (SELECT FROM billing.refund AS r WHERE r.currency = v_old ->> 'code')
        WHEN 'payment_method' THEN EXISTS (SELECT FROM billing.payment AS p WHERE p.method_id = (v_old ->> 'method_id')::bigint)
            OR EXISTS (SELECT FROM billing.refund AS r WHERE r.method_id = (v_old ->> 'method_id')::bigint)
        ELSE EXISTS (SELECT FROM billing.order_line AS l WHERE l.product_id = (v_old ->> 'product_id')::bigint)
    END;
    v_changed := format('the %s of %s %s', v_column, replace(TG_ARGV[0], '_', ' '),
        coalesce(v_old ->> 'code', v_old ->> 'sku'));
    IF v_in_use THEN
        PERFORM billing.fail('PB001', format('%s is in use by recorded documents and never changes', v_changed),
            p_hint => 'Add a new row instead; names and descriptions may change.');
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.reference_in_use() IS
'Trigger on currency, payment_method and product: once documents use a row, what they read through it (minor '
'units, method code, SKU) never changes (PB001).';

CREATE OR REPLACE TRIGGER t10_currency_in_use
BEFORE UPDATE ON billing.currency
FOR EACH ROW EXECUTE FUNCTION billing.reference_in_use('currency');

CREATE OR REPLACE TRIGGER t10_payment_method_in_use
BEFORE UPDATE ON billing.payment_method
FOR EACH ROW EXECUTE FUNCTION billing.reference_in_use('payment_method');

CREATE OR REPLACE TRIGGER t10_product_in_use
BEFORE UPDATE ON billing.product
FOR EACH ROW EXECUTE FUNCTION billing.reference_in_use('product');
