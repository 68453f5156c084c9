-- Shared helpers: errors, money rounding, document labels, TRUNCATE refusal.

CREATE OR REPLACE FUNCTION billing.fail(
    p_sqlstate text, p_message text, p_detail text DEFAULT NULL, p_hint text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- RAISE takes no NULL option, and an empty DETAIL or HINT would still print: one branch per combination.
    IF p_detail IS NULL AND p_hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message;
    ELSIF p_hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, DETAIL = p_detail;
    ELSIF p_detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, HINT = p_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, DETAIL = p_detail, HINT = p_hint;
    END IF;
END
$$;

COMMENT ON FUNCTION billing.fail(text, text, text, text) IS
'Raises an error with the given SQLSTATE, message, detail and hint. Every pgbilling rule reports through it '
'with one stable SQLSTATE (README, Errors).';

CREATE OR REPLACE FUNCTION billing.require(p_value anyelement, p_name text) RETURNS anyelement
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    IF p_value IS NULL THEN
        PERFORM billing.fail('22004', format('%s must not be NULL', p_name));
    END IF;
    RETURN p_value;
END
$$;

COMMENT ON FUNCTION billing.require(anyelement, text) IS
'Returns p_value, or raises 22004 naming the argument when it is NULL.';

-- minor_units reads billing.currency. On Citus (README, Scale-out) that is a reference table, and rounding runs
-- inside queries on a customer's shards (views, reports, checks), where Citus refuses a query on a Citus table (a
-- nested distributed query): there it reads the node's own copy of the table, its one shard, by name. The function
-- is written here for whichever the database has; scale_out/distribute.sql runs this file again once currency is a
-- reference table.
DO $$
DECLARE
    v_table text := 'billing.currency';
BEGIN
    IF to_regclass('pg_catalog.pg_dist_shard') IS NOT NULL THEN
        EXECUTE 'SELECT format(''billing.%I'', ''currency_'' || s.shardid) FROM pg_catalog.pg_dist_shard AS s
            WHERE s.logicalrelid = ''billing.currency''::regclass'
        INTO v_table;
    END IF;
    EXECUTE format($function$
CREATE OR REPLACE FUNCTION billing.minor_units(p_currency text) RETURNS smallint
LANGUAGE plpgsql
STABLE
AS $body$
DECLARE
    v_units smallint;
BEGIN
    SELECT c.minor_units INTO v_units FROM %s AS c WHERE c.code = p_currency;
    IF NOT FOUND THEN
        PERFORM billing.fail('23503', format('currency %%L does not exist', left(p_currency, 20)),
            p_hint => 'Use an ISO code from billing.currency, or INSERT the currency there first.');
    END IF;
    RETURN v_units;
END
$body$
$function$, coalesce(v_table, 'billing.currency'));
END
$$;

COMMENT ON FUNCTION billing.minor_units(text) IS 'Decimal places of a currency; 23503 for an unknown one.';

CREATE OR REPLACE FUNCTION billing.round_money(p_amount numeric, p_currency text) RETURNS numeric
LANGUAGE sql
STABLE
AS $$
    SELECT round(p_amount, billing.minor_units(p_currency))
$$;

COMMENT ON FUNCTION billing.round_money(numeric, text) IS
'The one place amounts are rounded: to the currency''s minor units, half away from zero '
'(PostgreSQL''s round(numeric, int)), e.g. 2.345 EUR -> 2.35, -2.345 EUR -> -2.35.';

CREATE OR REPLACE FUNCTION billing.check_money(p_amount numeric, p_currency text, p_what text) RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    -- NaN compares greater than every number (so CHECK (amount > 0) takes it), and numeric takes Infinity.
    IF NOT abs(p_amount) < 1e15 THEN
        PERFORM billing.fail('23514', format('%s: amount %s is not a finite amount below 10^15', p_what, p_amount),
            'NaN, Infinity, -Infinity and amounts of 10^15 or more are refused.',
            format('Give the amount in %s as a plain decimal number, e.g. 12.50.', p_currency));
    END IF;
    IF p_amount <> billing.round_money(p_amount, p_currency) THEN
        PERFORM billing.fail('23514',
            format('%s: amount %s has more decimals than %s allows', p_what, p_amount, p_currency),
            format('%s has %s minor units', p_currency, billing.minor_units(p_currency)),
            'Round the amount with billing.round_money first.');
    END IF;
END
$$;

COMMENT ON FUNCTION billing.check_money(numeric, text, text) IS
'Raises 23514 when an amount is not a finite number below 10^15 in absolute value (NaN, Infinity), or carries '
'more decimals than its currency''s minor units.';

CREATE OR REPLACE FUNCTION billing.document_label(p_customer_id bigint, p_invoice_id bigint) RETURNS text
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    RETURN coalesce(
        (
            SELECT format('%s %s of customer %s',
                replace(i.kind, '_', ' '), coalesce(i.invoice_no, format('(draft, id %s)', i.invoice_id)), i.customer_id)
            FROM billing.invoice AS i
            WHERE i.customer_id = p_customer_id AND i.invoice_id = p_invoice_id
        ),
        format('invoice id %s of customer %s', p_invoice_id, p_customer_id)
    );
END
$$;

COMMENT ON FUNCTION billing.document_label(bigint, bigint) IS
'How errors name a document: "invoice INV-000042 of customer 7", "credit note (draft, id 12) of customer 7".';

CREATE OR REPLACE FUNCTION billing.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.fail('PB001', format('TRUNCATE of billing.%s is refused', TG_ARGV[0]),
        'It holds issued documents or their history, which never change.',
        'Delete draft rows one by one instead.');
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.refuse_truncate() IS
'Statement trigger (its argument: the table''s name): TRUNCATE of a table holding issued documents is refused (PB001).';

CREATE OR REPLACE FUNCTION billing.refuse_direct_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- pg_trigger_depth() is 1 for a client's own statement, more when a pgbilling trigger writes.
    IF pg_trigger_depth() <= 1 THEN
        PERFORM billing.fail('PB002', format('billing.%s is kept by pgbilling''s triggers: %s refused', TG_ARGV[0], TG_OP),
            p_hint => 'Issue documents instead; the running totals follow.');
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

COMMENT ON FUNCTION billing.refuse_direct_change() IS
'Row trigger for derived data (running totals; its argument: the table''s name): only pgbilling''s own triggers '
'may write it (PB002).';
