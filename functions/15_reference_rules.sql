-- Reference data that documents use keeps its meaning: rows can be added, and named or described anew, but what
-- a recorded document reads through them (a currency's minor units, a payment method's code, a product's SKU)
-- never changes once one uses them. Codes that documents store (currency, fee, tax code) are kept by their
-- foreign keys already.

CREATE OR REPLACE FUNCTION billing.reference_in_use() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_changed text;
    v_in_use boolean;
BEGIN
    CASE TG_ARGV[0]  -- not TG_TABLE_NAME: on a Citus worker that is the shard's name
        WHEN 'currency' THEN
            v_changed := CASE WHEN NEW.minor_units <> OLD.minor_units THEN format('the minor units of currency %s', OLD.code) END;
            v_in_use := v_changed IS NOT NULL AND (
                EXISTS (SELECT FROM billing.sales_order AS o WHERE o.currency = OLD.code)
                OR EXISTS (SELECT FROM billing.invoice AS i WHERE i.currency = OLD.code)
                OR EXISTS (SELECT FROM billing.payment AS p WHERE p.currency = OLD.code)
                OR EXISTS (SELECT FROM billing.refund AS r WHERE r.currency = OLD.code));
        WHEN 'payment_method' THEN
            v_changed := CASE WHEN NEW.code <> OLD.code THEN format('the code of payment method %s', OLD.code) END;
            v_in_use := v_changed IS NOT NULL AND (
                EXISTS (SELECT FROM billing.payment AS p WHERE p.method_id = OLD.method_id)
                OR EXISTS (SELECT FROM billing.refund AS r WHERE r.method_id = OLD.method_id));
        ELSE  -- product
            v_changed := CASE WHEN NEW.sku <> OLD.sku THEN format('the SKU of product %s', OLD.sku) END;
            v_in_use := v_changed IS NOT NULL
                AND EXISTS (SELECT FROM billing.order_line AS l WHERE l.product_id = OLD.product_id);
    END CASE;
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
