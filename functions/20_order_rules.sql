-- Rules on orders, order lines and order charges, as triggers so direct INSERTs and UPDATEs obey them.

CREATE OR REPLACE FUNCTION billing.customer_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.fail('55000', format('customer %s: customer_id never changes', OLD.customer_id),
        format('new value: %s', NEW.customer_id), 'Every row of the customer is keyed by it (and sharded by it).');
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.customer_rules() IS
'Trigger: a customer''s id never changes (55000), not even to a new identity value.';

CREATE OR REPLACE TRIGGER t10_customer_rules
BEFORE UPDATE OF customer_id ON billing.customer
FOR EACH ROW WHEN (old.customer_id IS DISTINCT FROM new.customer_id)
EXECUTE FUNCTION billing.customer_rules();

CREATE OR REPLACE FUNCTION billing.customer_created() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO billing.customer_document_series (customer_id, series, next_no)
    SELECT NEW.customer_id, s.series, 1 FROM billing.document_series AS s;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.customer_created() IS
'Trigger after a customer is created: its own number series, one per document series, starting at 1.';

CREATE OR REPLACE TRIGGER t20_customer_created
AFTER INSERT ON billing.customer
FOR EACH ROW EXECUTE FUNCTION billing.customer_created();

CREATE OR REPLACE FUNCTION billing.sales_order_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_canceled THEN
            PERFORM billing.fail('55000', format('order %L of customer %s cannot be placed canceled', NEW.order_ref, NEW.customer_id),
                p_hint => 'Place it, then cancel it with billing.cancel_order.');
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.customer_id <> OLD.customer_id OR NEW.order_id <> OLD.order_id THEN
        PERFORM billing.fail('55000', format('order %s of customer %s: customer_id and order_id never change', OLD.order_id, OLD.customer_id));
    END IF;
    IF OLD.is_canceled AND (NEW.is_canceled, NEW.canceled_time, NEW.cancel_reason)
        IS DISTINCT FROM (OLD.is_canceled, OLD.canceled_time, OLD.cancel_reason) THEN
        PERFORM billing.fail('55000', format('order %s of customer %s is already canceled', OLD.order_id, OLD.customer_id),
            format('canceled at %s: %s', OLD.canceled_time, OLD.cancel_reason));
    END IF;
    IF NEW.currency <> OLD.currency AND (
        EXISTS (
            SELECT FROM billing.order_line AS l
            WHERE l.customer_id = OLD.customer_id AND l.order_id = OLD.order_id AND l.billed_quantity > 0
        ) OR EXISTS (
            SELECT FROM billing.order_charge AS c
            WHERE c.customer_id = OLD.customer_id AND c.order_id = OLD.order_id AND c.billed_amount > 0
        )
    ) THEN
        PERFORM billing.fail('55000', format('order %s of customer %s is billed: its currency cannot change', OLD.order_id, OLD.customer_id));
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.sales_order_rules() IS
'Trigger: an order is placed uncanceled, its keys never change, a cancellation is final, a billed '
'order keeps its currency.';

CREATE OR REPLACE TRIGGER t10_sales_order_rules
BEFORE INSERT OR UPDATE ON billing.sales_order
FOR EACH ROW EXECUTE FUNCTION billing.sales_order_rules();

CREATE OR REPLACE FUNCTION billing.order_item_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_order billing.sales_order;
    v_billed_old numeric := CASE TG_OP WHEN 'UPDATE' THEN to_jsonb(OLD) ->> CASE TG_ARGV[0] WHEN 'order_line' THEN 'billed_quantity' ELSE 'billed_amount' END END;
    v_billed_new numeric := to_jsonb(NEW) ->> CASE TG_ARGV[0] WHEN 'order_line' THEN 'billed_quantity' ELSE 'billed_amount' END;
BEGIN
    IF pg_trigger_depth() <= 1 AND v_billed_new IS DISTINCT FROM coalesce(v_billed_old, 0) THEN
        PERFORM billing.fail('PB002', format('billing.%s: the billed part is kept by pgbilling''s triggers', TG_ARGV[0]),
            format('order %s of customer %s', NEW.order_id, NEW.customer_id),
            'Issue invoices and credit notes instead; the billed part follows.');
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.customer_id, NEW.order_id) IS DISTINCT FROM (OLD.customer_id, OLD.order_id) THEN
        PERFORM billing.fail('55000', format('billing.%s: customer_id and order_id of a row never change', TG_ARGV[0]));
    END IF;
    SELECT o.* INTO v_order FROM billing.sales_order AS o WHERE o.customer_id = NEW.customer_id AND o.order_id = NEW.order_id;
    IF v_order.is_canceled AND pg_trigger_depth() <= 1 THEN
        PERFORM billing.fail('55000', format('order %s of customer %s is canceled: it cannot change', NEW.order_id, NEW.customer_id),
            format('canceled at %s: %s', v_order.canceled_time, v_order.cancel_reason));
    END IF;
    IF TG_ARGV[0] = 'order_charge' AND v_order.currency IS NOT NULL THEN
        PERFORM billing.check_money((to_jsonb(NEW) ->> 'amount')::numeric, v_order.currency,
            format('charge of order %s of customer %s', NEW.order_id, NEW.customer_id));
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.order_item_rules() IS
'Trigger on order_line and order_charge (its argument: which): the billed part is written by pgbilling''s triggers '
'only (PB002), '
'keys never change, a canceled order takes no changes (55000), a charge amount fits its currency (23514).';

CREATE OR REPLACE TRIGGER t10_order_line_rules
BEFORE INSERT OR UPDATE ON billing.order_line
FOR EACH ROW EXECUTE FUNCTION billing.order_item_rules('order_line');

CREATE OR REPLACE TRIGGER t10_order_charge_rules
BEFORE INSERT OR UPDATE ON billing.order_charge
FOR EACH ROW EXECUTE FUNCTION billing.order_item_rules('order_charge');
