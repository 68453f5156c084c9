-- Tamper evidence: every issued invoice and credit note, payment, refund and allocation is a link of a hash chain
-- (tables from migration 0016; README, Tamper evidence). A link stores the SHA-256 of the entry's canonical content
-- (billing.chain_content) and link_hash = sha256(previous link_hash || content_hash), 32 zero bytes before link 1.
-- billing.verify_chain recomputes every chain and names the first broken link of each.
--
-- Which chain an entry joins (billing.chain_of):
--   invoice, credit note  the chain of its number series: INV, CN for a series kept for all customers (scope
--                         global, one chain over all customers), INV-7, CN-7 for customer 7's own series
--   payment               payments, one chain per customer
--   refund                refunds, one chain per customer
--   allocation            allocations from payment 12 / allocations from credit note 34: one chain per source
--
-- Locks. Appending locks the chain's head row (chain_head, global_chain_head) until commit. A head lock can close a
-- deadlock cycle only if a transaction holding it then waits for another lock L, while a transaction holding L waits
-- for that head. Within each API call:
-- * Series chains: t30_invoice_chained appends after invoice_rules took the series' row lock (document_series, or
--   the customer's customer_document_series row) in the same UPDATE. Every appender of the chain holds that lock
--   before it asks for the head, so nobody ever waits for the head: no new waiting, no cycle. A global series'
--   chain serializes nothing its numbering did not already; a per-customer series' chain involves no other customer.
-- * Allocation chains: t30_allocation_chained appends after allocation_rules (BEFORE INSERT) locked the source's
--   balance row (payment_balance, or the credit note's invoice_balance), which every appender of that chain locks
--   first: the same argument.
-- * payments and refunds: new locks, one of each per customer. A payment takes the payments head as the last lock
--   of record_payment (its AFTER INSERT trigger, once the balance row is opened); pay_invoices records its payment
--   first and only then locks invoices, and no API call records a payment while it holds any other row lock, so
--   nobody holding a lock pay_invoices wants ever waits for a payments head. A refund takes the refunds head when
--   its last part is booked, after every source is locked, as the last lock of refund; cancel_order refunds while
--   it holds invoices and payments and afterwards only locks payments it holds already. Payments and refunds are
--   separate chains for that reason: in one chain, pay_invoices would hold the head while it waits for invoices that
--   cancel_order holds while it waits for the head to refund.
-- Like a number series, a head stays locked until commit: a transaction of several calls that records a payment
-- or refund (or issues a document) and then waits for rows that another transaction holds while it records for the
-- same customer deadlocks (PostgreSQL detects it: 40P01, retry). Keep such transactions to one call, or make the
-- calls in the same order everywhere. Under REPEATABLE READ or SERIALIZABLE, a concurrent append to the same chain
-- fails with 40001, as a concurrent issue in the same series does.

CREATE OR REPLACE FUNCTION billing.chain_time(p_time timestamptz) RETURNS text
LANGUAGE sql
STABLE
AS $$
    SELECT to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

COMMENT ON FUNCTION billing.chain_time(timestamptz) IS
'A time stamp as chain_content prints it: UTC with microseconds, 2026-12-03T09:05:00.000000Z, whatever the '
'session''s TimeZone or DateStyle. Never change it: every stored content_hash of a time stamp depends on it.';

-- Canonical content. Never change what it returns for an entry that exists: its stored content_hash would stop
-- verifying. It lists its fields explicitly (a column added later changes no hash) and prints them as jsonb text
-- (keys sorted, numbers with their scale as stored), time stamps in UTC with microseconds, dates as YYYY-MM-DD, so
-- the text does not depend on the session's TimeZone or DateStyle.
CREATE OR REPLACE FUNCTION billing.chain_content(p_customer_id bigint, p_entry text, p_entry_id bigint) RETURNS text
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    RETURN (SELECT CASE
        WHEN p_entry IN ('invoice', 'credit_note') THEN (
            SELECT jsonb_build_object(
                'entry', p_entry,
                'customer_id', i.customer_id,
                'invoice_id', i.invoice_id,
                'kind', i.kind,
                'status', i.status,
                'invoice_no', i.invoice_no,
                'currency', i.currency,
                'created_at', billing.chain_time(i.created_at),
                'issued_at', billing.chain_time(i.issued_at),
                'due_date', to_char(i.due_date, 'YYYY-MM-DD'),
                'total', i.total,
                'credited_invoice_id', i.credited_invoice_id,
                'reason', i.reason,
                'comments', i.comments,
                'lines', CASE i.kind
                    WHEN 'invoice' THEN (
                        SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'line_no', l.line_no,
                            'line_type', l.line_type,
                            'quantity', l.quantity,
                            'unit_amount', l.unit_amount,
                            'amount', l.amount,
                            'description', l.description,
                            'product', CASE WHEN p.line_no IS NOT NULL THEN
                                jsonb_build_object('order_id', p.order_id, 'order_line_no', p.order_line_no)
                            END,
                            'fee', CASE WHEN f.line_no IS NOT NULL THEN jsonb_build_object(
                                'fee_code', f.fee_code, 'order_id', f.order_id, 'order_charge_no', f.order_charge_no
                            ) END,
                            'discount', CASE WHEN d.line_no IS NOT NULL THEN
                                jsonb_build_object('applies_to_line_no', d.applies_to_line_no)
                            END,
                            'tax', CASE WHEN t.line_no IS NOT NULL THEN jsonb_build_object(
                                'tax_code', t.tax_code, 'rate', t.rate, 'taxable_amount', t.taxable_amount
                            ) END,
                            'memo', CASE WHEN m.line_no IS NOT NULL THEN jsonb_build_object('memo', m.memo) END
                        ) ORDER BY l.line_no), '[]'::jsonb)
                        FROM billing.invoice_line AS l
                        -- one join per subtype table (at most one row each): a subquery per line and table
                        -- cost four times as much when every issue hashes its lines. Every table is filtered
                        -- by the customer, so that on Citus the query stays on the customer's shards.
                        LEFT JOIN billing.invoice_product_line AS p
                            ON p.customer_id = p_customer_id AND p.invoice_id = l.invoice_id AND p.line_no = l.line_no
                        LEFT JOIN billing.invoice_fee_line AS f
                            ON f.customer_id = p_customer_id AND f.invoice_id = l.invoice_id AND f.line_no = l.line_no
                        LEFT JOIN billing.invoice_discount_line AS d
                            ON d.customer_id = p_customer_id AND d.invoice_id = l.invoice_id AND d.line_no = l.line_no
                        LEFT JOIN billing.invoice_tax_line AS t
                            ON t.customer_id = p_customer_id AND t.invoice_id = l.invoice_id AND t.line_no = l.line_no
                        LEFT JOIN billing.invoice_memo_line AS m
                            ON m.customer_id = p_customer_id AND m.invoice_id = l.invoice_id AND m.line_no = l.line_no
                        WHERE l.customer_id = p_customer_id AND l.invoice_id = i.invoice_id
                    )
                    ELSE (
                        SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'line_no', c.line_no,
                            'credited_invoice_id', c.credited_invoice_id,
                            'credited_line_no', c.credited_line_no,
                            'quantity', c.quantity,
                            'amount', c.amount
                        ) ORDER BY c.line_no), '[]'::jsonb)
                        FROM billing.credit_note_line AS c
                        WHERE c.customer_id = p_customer_id AND c.credit_note_id = i.invoice_id
                    )
                END
            )::text
            FROM billing.invoice AS i
            WHERE i.customer_id = p_customer_id AND i.invoice_id = p_entry_id
        )
        WHEN p_entry = 'payment' THEN (
            SELECT jsonb_build_object(
                'entry', p_entry,
                'customer_id', p.customer_id,
                'payment_id', p.payment_id,
                'payment_no', p.payment_no,
                'currency', p.currency,
                'amount', p.amount,
                'method_id', p.method_id,
                'received_at', billing.chain_time(p.received_at),
                'recorded_at', billing.chain_time(p.recorded_at),
                'reference', p.reference,
                'comments', p.comments
            )::text
            FROM billing.payment AS p
            WHERE p.customer_id = p_customer_id AND p.payment_id = p_entry_id
        )
        WHEN p_entry = 'refund' THEN (
            SELECT jsonb_build_object(
                'entry', p_entry,
                'customer_id', r.customer_id,
                'refund_id', r.refund_id,
                'currency', r.currency,
                'amount', r.amount,
                'method_id', r.method_id,
                'refunded_at', billing.chain_time(r.refunded_at),
                'recorded_at', billing.chain_time(r.recorded_at),
                'reason', r.reason,
                'parts', (
                    SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'part_no', rp.part_no,
                        'currency', rp.currency,
                        'payment_id', rp.payment_id,
                        'credit_note_id', rp.credit_note_id,
                        'amount', rp.amount
                    ) ORDER BY rp.part_no), '[]'::jsonb)
                    FROM billing.refund_part AS rp
                    WHERE rp.customer_id = p_customer_id AND rp.refund_id = r.refund_id
                )
            )::text
            FROM billing.refund AS r
            WHERE r.customer_id = p_customer_id AND r.refund_id = p_entry_id
        )
        WHEN p_entry = 'allocation' THEN (
            SELECT jsonb_build_object(
                'entry', p_entry,
                'customer_id', a.customer_id,
                'allocation_id', a.allocation_id,
                'currency', a.currency,
                'invoice_id', a.invoice_id,
                'payment_id', a.payment_id,
                'credit_note_id', a.credit_note_id,
                'amount', a.amount,
                'reverses_allocation_id', a.reverses_allocation_id,
                'allocated_at', billing.chain_time(a.allocated_at),
                'reason', a.reason,
                'allocated_by', a.allocated_by
            )::text
            FROM billing.allocation AS a
            WHERE a.customer_id = p_customer_id AND a.allocation_id = p_entry_id
        )
    END);
END
$$;

COMMENT ON FUNCTION billing.chain_content(bigint, text, bigint) IS
'The canonical content of an entry, whose sha256 its chain link stores: jsonb text of explicit fields that never '
'change once it is issued or recorded. A document: its header (number, currency, dates, total, credited invoice, '
'reason) and its lines in line_no order with their subtype rows (invoice) or credit_note_line rows; a payment: its '
'fields; a refund: its fields and parts; an allocation: its fields (un-allocating adds a reversing allocation, '
'linked in turn). Time stamps in UTC. NULL when the entry does not exist.';

CREATE OR REPLACE FUNCTION billing.chain_of(
    p_customer_id bigint, p_entry text, p_entry_id bigint, OUT chain text, OUT scope text
)
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    -- One query per kind of entry, each on one table of the customer: on Citus, Citus checks that a call delegated to
    -- the customer's node reads only that customer's shards, and a join with a lookup table hides the customer.
    IF p_entry IN ('invoice', 'credit_note') THEN
        -- A document's number without its trailing number: the series prefix (global) or prefix-customer.
        SELECT regexp_replace(i.invoice_no, '-[0-9]+$', '') INTO chain
        FROM billing.invoice AS i
        WHERE i.customer_id = p_customer_id AND i.invoice_id = p_entry_id AND i.kind = p_entry AND i.invoice_no IS NOT NULL;
        SELECT CASE WHEN s.prefix = chain THEN 'global' ELSE 'per_customer' END INTO scope
        FROM billing.document_series AS s WHERE s.series = p_entry AND chain IS NOT NULL;
    ELSIF p_entry = 'payment' THEN
        SELECT 'payments', 'per_customer' INTO chain, scope
        FROM billing.payment AS p WHERE p.customer_id = p_customer_id AND p.payment_id = p_entry_id;
    ELSIF p_entry = 'refund' THEN
        SELECT 'refunds', 'per_customer' INTO chain, scope
        FROM billing.refund AS r WHERE r.customer_id = p_customer_id AND r.refund_id = p_entry_id;
    ELSIF p_entry = 'allocation' THEN
        SELECT CASE
                WHEN a.payment_id IS NOT NULL THEN 'allocations from payment ' || a.payment_id
                ELSE 'allocations from credit note ' || a.credit_note_id
            END, 'per_customer' INTO chain, scope
        FROM billing.allocation AS a WHERE a.customer_id = p_customer_id AND a.allocation_id = p_entry_id;
    END IF;
END
$$;

COMMENT ON FUNCTION billing.chain_of(bigint, text, bigint) IS
'The chain an entry joins and its scope: a document the chain of its number series (INV: global, one chain over all '
'customers; INV-7: customer 7''s series); a payment the customer''s payments chain, a refund its refunds chain; an '
'allocation the chain of its source (allocations from payment 12, allocations from credit note 34). NULLs when the '
'entry does not exist or is a draft.';

CREATE OR REPLACE FUNCTION billing.chain_append(p_customer_id bigint, p_entry text, p_entry_id bigint) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_chain text;
    v_scope text;
    v_content_hash bytea;
    v_link_no bigint;
    v_link_hash bytea;
BEGIN
    SELECT o.chain, o.scope INTO v_chain, v_scope FROM billing.chain_of(p_customer_id, p_entry, p_entry_id) AS o;
    v_content_hash := sha256(convert_to(billing.chain_content(p_customer_id, p_entry, p_entry_id), 'UTF8'));
    IF v_chain IS NULL OR v_content_hash IS NULL THEN
        PERFORM billing.fail('55000', format('%s %s of customer %s cannot be linked: it does not exist or is a draft',
            replace(p_entry, '_', ' '), p_entry_id, p_customer_id));
    END IF;
    -- The head row, locked until commit (see the top of this file for why this cannot deadlock), created with the
    -- chain's first link at (0, 32 zero bytes): the UPDATE after it appends link 1.
    FOR v_try IN 1..2 LOOP
        IF v_scope = 'global' THEN
            UPDATE billing.global_chain_head AS h
            SET link_no = h.link_no + 1, link_hash = sha256(h.link_hash || v_content_hash)
            WHERE h.chain = v_chain
            RETURNING h.link_no, h.link_hash INTO v_link_no, v_link_hash;
        ELSE
            UPDATE billing.chain_head AS h
            SET link_no = h.link_no + 1, link_hash = sha256(h.link_hash || v_content_hash)
            WHERE h.customer_id = p_customer_id AND h.chain = v_chain
            RETURNING h.link_no, h.link_hash INTO v_link_no, v_link_hash;
        END IF;
        EXIT WHEN v_link_no IS NOT NULL OR v_try = 2;
        IF v_scope = 'global' THEN
            INSERT INTO billing.global_chain_head (chain, link_no, link_hash)
            VALUES (v_chain, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (chain) DO NOTHING;
        ELSE
            INSERT INTO billing.chain_head (customer_id, chain, link_no, link_hash)
            VALUES (p_customer_id, v_chain, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (customer_id, chain) DO NOTHING;
        END IF;
    END LOOP;
    IF v_link_no IS NULL THEN
        -- Only under REPEATABLE READ or SERIALIZABLE: a head created concurrently is not in this snapshot.
        PERFORM billing.fail('40001', format('chain %L was started by a concurrent transaction', v_chain),
            p_hint => 'Retry the transaction.');
    END IF;
    INSERT INTO billing.chain_link (
        customer_id, chain, link_no, scope, entry, entry_id, content_hash, link_hash
    ) VALUES (
        p_customer_id, v_chain, v_link_no, v_scope, p_entry, p_entry_id, v_content_hash, v_link_hash
    );
    RETURN v_link_no;
END
$$;

COMMENT ON FUNCTION billing.chain_append(bigint, text, bigint) IS
'Appends an entry (invoice, credit_note, payment, refund, allocation) to its chain (billing.chain_of): locks the '
'chain''s head until commit and inserts the link; returns its link_no. Called by the triggers that link each '
'entry when it is written; called from a client, the head''s and link''s own triggers refuse it (PB002).';

CREATE OR REPLACE FUNCTION billing.invoice_chained() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.chain_append(NEW.customer_id, NEW.kind, NEW.invoice_id);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.invoice_chained() IS
'Trigger after a document is issued: links it in the chain of its number series, under the series lock it holds.';

CREATE OR REPLACE TRIGGER t30_invoice_chained
AFTER UPDATE ON billing.invoice
FOR EACH ROW WHEN (old.status = 'draft' AND new.status = 'issued')
EXECUTE FUNCTION billing.invoice_chained();

CREATE OR REPLACE FUNCTION billing.payment_chained() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.chain_append(NEW.customer_id, 'payment', NEW.payment_id);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.payment_chained() IS
'Trigger after a payment is recorded: links it in the customer''s payments chain.';

CREATE OR REPLACE TRIGGER t30_payment_chained
AFTER INSERT ON billing.payment
FOR EACH ROW EXECUTE FUNCTION billing.payment_chained();

CREATE OR REPLACE FUNCTION billing.refund_chained() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- A refund's content holds its parts: it is linked once they add up to its amount (refund_complete refuses
    -- any other end at commit); the rows of one INSERT of several parts link it once.
    IF NOT EXISTS (
        SELECT FROM billing.chain_link AS l
        WHERE l.customer_id = NEW.customer_id AND l.entry = 'refund' AND l.entry_id = NEW.refund_id
    ) AND (
        SELECT r.amount FROM billing.refund AS r WHERE r.customer_id = NEW.customer_id AND r.refund_id = NEW.refund_id
    ) = (
        SELECT sum(p.amount) FROM billing.refund_part AS p WHERE p.customer_id = NEW.customer_id AND p.refund_id = NEW.refund_id
    ) THEN
        PERFORM billing.chain_append(NEW.customer_id, 'refund', NEW.refund_id);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.refund_chained() IS
'Trigger after a refund part is booked: once the parts add up to the refund''s amount, links the refund in the '
'customer''s refunds chain.';

CREATE OR REPLACE TRIGGER t30_refund_chained
AFTER INSERT ON billing.refund_part
FOR EACH ROW EXECUTE FUNCTION billing.refund_chained();

CREATE OR REPLACE FUNCTION billing.allocation_chained() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM billing.chain_append(NEW.customer_id, 'allocation', NEW.allocation_id);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION billing.allocation_chained() IS
'Trigger after an allocation (or its reversal) is recorded: links it in the chain of its source, whose balance '
'row allocation_rules locked.';

CREATE OR REPLACE TRIGGER t30_allocation_chained
AFTER INSERT ON billing.allocation
FOR EACH ROW EXECUTE FUNCTION billing.allocation_chained();

CREATE OR REPLACE FUNCTION billing.verify_chain(p_customer_id bigint DEFAULT NULL)
RETURNS TABLE (
    chain text, link_no bigint, customer_id bigint, entry text, entry_id bigint, document text, problem text
)
LANGUAGE plpgsql
STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_owners bigint [];     -- the customers whose own chains are verified; NULL: the global chains
    v_global text [];       -- the global chains to verify, whole
    v_owner bigint;
    v_rows refcursor;
    v_row record;
    v_last record;          -- the last link read of v_chain; where a problem found is named
    v_chain text;           -- the chain being read
    v_count bigint;         -- its links read so far
    v_previous bytea;       -- link_hash of its last link read (32 zero bytes before link 1)
    v_done boolean;         -- its first problem is found, or its head is checked
    v_content text;
    v_problem text;
    v_found jsonb := '[]';  -- every problem found, labeled and sorted at the end
BEGIN
    -- Citus (README, Scale-out) refuses a function that reads tables (chain_content, chain_of, the labels) inside
    -- a query that runs on a shard. So the chains are read customer by customer, with queries filtered by the
    -- customer (on its shards only, as a call delegated to its node must), and checked here, link by link; what
    -- is found is gathered in v_found, then labeled and sorted.
    SELECT NULL::bigint AS link_no, NULL::bigint AS customer_id, NULL::text AS entry, NULL::bigint AS entry_id,
        NULL::bytea AS link_hash
    INTO v_last;  -- (assigned before the first link is read, for plpgsql_check)
    IF p_customer_id IS NULL THEN
        -- Not only the rows of billing.customer: a customer deleted behind the triggers leaves links to verify.
        v_owners := ARRAY(
            SELECT l.customer_id FROM billing.chain_link AS l
            UNION
            SELECT h.customer_id FROM billing.chain_head AS h
            UNION
            SELECT i.customer_id FROM billing.invoice AS i WHERE i.status = 'issued'
            UNION
            SELECT p.customer_id FROM billing.payment AS p
            UNION
            SELECT r.customer_id FROM billing.refund AS r
            UNION
            SELECT a.customer_id FROM billing.allocation AS a
            ORDER BY 1
        );
        v_global := ARRAY(
            SELECT g.chain FROM billing.global_chain_head AS g
            UNION
            SELECT l.chain FROM billing.chain_link AS l WHERE l.scope = 'global'
        );
    ELSE
        v_owners := ARRAY[p_customer_id];
        v_global := ARRAY(
            SELECT DISTINCT l.chain FROM billing.chain_link AS l
            WHERE l.customer_id = p_customer_id AND l.scope = 'global'
        );
    END IF;
    IF cardinality(v_global) > 0 THEN
        v_owners := v_owners || NULL::bigint;
    END IF;

    FOREACH v_owner IN ARRAY v_owners LOOP
        -- The links of each chain in order, then its head; customer_id of a head: the chain's owner.
        IF v_owner IS NOT NULL THEN
            OPEN v_rows FOR
                SELECT
                    l.chain, l.link_no, l.customer_id, l.entry, l.entry_id, l.content_hash, l.link_hash,
                    FALSE AS is_head
                FROM billing.chain_link AS l
                WHERE l.customer_id = v_owner AND l.scope = 'per_customer'
                UNION ALL
                SELECT h.chain, h.link_no, h.customer_id, NULL, NULL, NULL, h.link_hash, TRUE
                FROM billing.chain_head AS h
                WHERE h.customer_id = v_owner
                ORDER BY chain, is_head, link_no, customer_id;
        ELSE
            -- Chains over all customers (a global number series) exist on plain PostgreSQL only: on Citus every
            -- series is per customer.
            OPEN v_rows FOR
                SELECT
                    l.chain, l.link_no, l.customer_id, l.entry, l.entry_id, l.content_hash, l.link_hash,
                    FALSE AS is_head
                FROM billing.chain_link AS l
                WHERE l.scope = 'global' AND l.chain = ANY (v_global)
                UNION ALL
                SELECT g.chain, g.link_no, NULL, NULL, NULL, NULL, g.link_hash, TRUE
                FROM billing.global_chain_head AS g
                WHERE g.chain = ANY (v_global)
                ORDER BY chain, is_head, link_no, customer_id;
        END IF;
        v_chain := NULL;
        v_done := TRUE;
        LOOP
            FETCH v_rows INTO v_row;
            -- A chain with no head ends where the next one starts, or at the end: named at its last link.
            IF NOT v_done AND (NOT FOUND OR v_row.chain <> v_chain) THEN
                v_found := v_found || jsonb_build_object('chain', v_chain, 'link_no', v_last.link_no,
                    'customer_id', v_last.customer_id, 'entry', v_last.entry, 'entry_id', v_last.entry_id,
                    'problem', 'the chain has no head');
            END IF;
            EXIT WHEN NOT FOUND;
            IF v_row.chain IS DISTINCT FROM v_chain THEN
                v_chain := v_row.chain;
                v_count := 0;
                v_previous := decode(repeat('00', 32), 'hex');
                v_done := FALSE;
            END IF;
            CONTINUE WHEN v_done;  -- a chain's first problem only
            IF NOT v_row.is_head THEN
                v_count := v_count + 1;
                v_content := billing.chain_content(v_row.customer_id, v_row.entry, v_row.entry_id);
                v_problem := CASE
                    WHEN v_row.link_no > v_count THEN format('link %s is missing', v_count)
                    WHEN v_row.link_no < v_count THEN format('link %s is there twice', v_row.link_no)
                    WHEN v_content IS NULL THEN 'the entry is gone'
                    WHEN sha256(convert_to(v_content, 'UTF8')) <> v_row.content_hash
                        THEN 'the entry changed after it was linked'
                    WHEN v_row.link_hash <> sha256(v_previous || v_row.content_hash)
                        THEN 'link_hash does not follow from the previous link and content_hash'
                END;
                v_previous := v_row.link_hash;
                v_last := v_row;
            ELSE
                v_done := TRUE;  -- the head ends the chain
                IF v_count = 0 THEN
                    v_last := v_row;  -- no link is left: named at the head
                    v_problem := CASE WHEN v_row.link_no > 0
                        THEN format('the head is at link %s but no link is left', v_row.link_no)
                    END;
                ELSE
                    v_problem := CASE
                        WHEN v_row.link_no <> v_last.link_no
                            THEN format('the head is at link %s, the last link is %s', v_row.link_no, v_last.link_no)
                        WHEN v_row.link_hash <> v_last.link_hash THEN 'the head''s link_hash is not the last link''s'
                    END;
                END IF;
            END IF;
            IF v_problem IS NOT NULL THEN
                v_done := TRUE;
                v_found := v_found || jsonb_build_object('chain', v_chain, 'link_no', v_last.link_no,
                    'customer_id', v_last.customer_id, 'entry', v_last.entry, 'entry_id', v_last.entry_id,
                    'problem', v_problem);
            END IF;
        END LOOP;
        CLOSE v_rows;

        CONTINUE WHEN v_owner IS NULL;
        -- The customer's entries that have no link (written behind the triggers), with the chain each would join.
        FOR v_row IN
            SELECT e.entry, e.entry_id
            FROM (
                SELECT
                    i.kind AS entry,
                    i.invoice_id AS entry_id
                FROM billing.invoice AS i WHERE i.customer_id = v_owner AND i.status = 'issued'
                UNION ALL
                SELECT 'payment', p.payment_id FROM billing.payment AS p WHERE p.customer_id = v_owner
                UNION ALL
                SELECT 'refund', r.refund_id FROM billing.refund AS r WHERE r.customer_id = v_owner
                UNION ALL
                SELECT 'allocation', a.allocation_id FROM billing.allocation AS a WHERE a.customer_id = v_owner
            ) AS e
            WHERE NOT EXISTS (
                SELECT FROM billing.chain_link AS l
                WHERE l.customer_id = v_owner AND l.entry = e.entry AND l.entry_id = e.entry_id
            )
        LOOP
            v_found := v_found || jsonb_build_object(
                'chain', (billing.chain_of(v_owner, v_row.entry, v_row.entry_id)).chain,
                'customer_id', v_owner, 'entry', v_row.entry, 'entry_id', v_row.entry_id,
                'problem', 'the entry has no link');
        END LOOP;
    END LOOP;

    RETURN QUERY SELECT
        f.chain,
        f.link_no,
        f.customer_id,
        f.entry,
        f.entry_id,
        CASE
            WHEN f.entry IN ('invoice', 'credit_note') THEN billing.document_label(f.customer_id, f.entry_id)
            WHEN f.entry = 'payment' THEN billing.source_label(f.customer_id, f.entry_id, NULL)
            WHEN f.entry IS NOT NULL THEN format('%s %s of customer %s', f.entry, f.entry_id, f.customer_id)
        END AS document,
        f.problem
    FROM jsonb_to_recordset(v_found) AS f (
        chain text, link_no bigint, customer_id bigint, entry text, entry_id bigint, problem text
    )
    ORDER BY f.chain, f.customer_id, f.link_no NULLS LAST, f.entry, f.entry_id;
END
$$;

COMMENT ON FUNCTION billing.verify_chain(bigint) IS
'Recomputes the chains (of p_customer_id: its own chains and, whole, the global chains holding its documents; '
'NULL: all) and returns the first broken link of each broken chain: a link missing or twice, the entry gone, its '
'content changed, a link_hash that does not follow, a head that is not the last link. Also every issued document, '
'payment, refund and allocation that has no link (link_no NULL). No row: every chain verifies. For auditors.';

CREATE OR REPLACE FUNCTION billing.chain_heads(p_customer_id bigint DEFAULT NULL)
RETURNS TABLE (chain text, customer_id bigint, link_no bigint, link_hash text, linked_at timestamptz)
LANGUAGE plpgsql
STABLE
AS $$
#variable_conflict use_column
BEGIN
    IF p_customer_id IS NOT NULL THEN
        -- Every table filtered by the customer: on Citus, a call delegated to its node reads its shards only.
        RETURN QUERY SELECT
            h.chain,
            h.customer_id,
            h.link_no,
            encode(h.link_hash, 'hex') AS link_hash,
            l.linked_at
        FROM billing.chain_head AS h
        LEFT JOIN billing.chain_link AS l
            ON l.customer_id = p_customer_id AND h.chain = l.chain AND h.link_no = l.link_no
        WHERE h.customer_id = p_customer_id
        ORDER BY h.chain;
        RETURN;
    END IF;
    -- All customers: the global chains first (plain PostgreSQL only: on Citus every series is per customer), then
    -- every customer's, each query over all shards and calling no function that reads tables.
    RETURN QUERY SELECT
        g.chain,
        NULL::bigint AS customer_id,
        g.link_no,
        encode(g.link_hash, 'hex') AS link_hash,
        l.linked_at
    FROM billing.global_chain_head AS g
    LEFT JOIN billing.chain_link AS l ON l.scope = 'global' AND g.chain = l.chain AND g.link_no = l.link_no
    ORDER BY g.chain;
    RETURN QUERY SELECT
        h.chain,
        h.customer_id,
        h.link_no,
        encode(h.link_hash, 'hex') AS link_hash,
        l.linked_at
    FROM billing.chain_head AS h
    LEFT JOIN billing.chain_link AS l
        ON h.customer_id = l.customer_id AND h.chain = l.chain AND h.link_no = l.link_no
    ORDER BY h.customer_id, h.chain;
END
$$;

COMMENT ON FUNCTION billing.chain_heads(bigint) IS
'Every chain''s head (of p_customer_id''s own chains; NULL: all, the global chains first with customer_id NULL): '
'its last link_no, link_hash in hex and when it was linked. Publish them elsewhere from time to time (for '
'auditors): a chain rewritten from some link to its end verifies again, but no longer ends in a published head.';

-- Links for the entries written before migration 0016 (an upgraded database): appended the first time this file is
-- applied after the migration created the chain tables, which is when chain_link has no rules trigger yet. The
-- triggers above exist by now and CREATE TRIGGER holds their tables until commit, so every entry is linked exactly
-- once: here, or by its trigger. Chain order: documents in number order, payments, refunds and allocations in id
-- order. Later applies link nothing: an entry written behind the triggers stays unlinked, and verify_chain names it.
DO $$
DECLARE
    v_entry record;
BEGIN
    IF EXISTS (
        SELECT FROM pg_catalog.pg_trigger AS t
        WHERE t.tgrelid = 'billing.chain_link'::regclass AND t.tgname = 't10_chain_link_rules'
    ) THEN
        RETURN;
    END IF;
    FOR v_entry IN
        SELECT e.customer_id, e.entry, e.entry_id
        FROM (
            SELECT
                i.customer_id,
                i.kind AS entry,
                i.invoice_id AS entry_id,
                1 AS pass,
                substring(i.invoice_no FROM '[0-9]+$')::numeric AS position
            FROM billing.invoice AS i WHERE i.status = 'issued'
            UNION ALL
            SELECT p.customer_id, 'payment', p.payment_id, 2, p.payment_id FROM billing.payment AS p
            UNION ALL
            SELECT r.customer_id, 'refund', r.refund_id, 2, r.refund_id FROM billing.refund AS r
            UNION ALL
            SELECT a.customer_id, 'allocation', a.allocation_id, 3, a.allocation_id FROM billing.allocation AS a
        ) AS e
        WHERE NOT EXISTS (
            SELECT FROM billing.chain_link AS l
            WHERE l.customer_id = e.customer_id AND l.entry = e.entry AND l.entry_id = e.entry_id
        )
        ORDER BY e.pass, e.position, e.entry, e.customer_id
    LOOP
        PERFORM billing.chain_append(v_entry.customer_id, v_entry.entry, v_entry.entry_id);
    END LOOP;
END
$$;

-- The chain tables' own rules: created after the links above, which they would refuse.

CREATE OR REPLACE FUNCTION billing.chain_link_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM billing.fail('PB001', format('link %s of chain %L of customer %s is history: %s refused',
            OLD.link_no, OLD.chain, OLD.customer_id, TG_OP),
            p_hint => 'Chains are append-only; billing.verify_chain names a broken one.');
    END IF;
    -- pg_trigger_depth() is 1 for a client's own statement, more when a pgbilling trigger appends.
    IF pg_trigger_depth() <= 1 THEN
        PERFORM billing.fail('PB002', 'billing.chain_link is kept by pgbilling''s triggers: INSERT refused',
            p_hint => 'Entries are linked when they are issued or recorded.');
    END IF;
    NEW.linked_at := clock_timestamp();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.chain_link_rules() IS
'Trigger: chain links are appended by pgbilling''s triggers only (PB002) and never change (PB001).';

CREATE OR REPLACE TRIGGER t10_chain_link_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.chain_link
FOR EACH ROW EXECUTE FUNCTION billing.chain_link_rules();

CREATE OR REPLACE FUNCTION billing.chain_head_rules() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- A head starts at link 0 with 32 zero bytes and moves one link at a time, keys unchanged; only appends
    -- (trigger depth > 1) write it.
    IF TG_OP = 'DELETE' OR pg_trigger_depth() <= 1
        OR TG_OP = 'INSERT' AND (NEW.link_no <> 0 OR NEW.link_hash <> decode(repeat('00', 32), 'hex'))
        OR TG_OP = 'UPDATE' AND (
            NEW.link_no <> OLD.link_no + 1
            OR to_jsonb(NEW) - 'link_no' - 'link_hash' <> to_jsonb(OLD) - 'link_no' - 'link_hash'
        ) THEN
        PERFORM billing.fail('PB002', format('the head of chain %L is kept by pgbilling''s triggers: %s refused',
            coalesce(NEW.chain, OLD.chain), TG_OP), p_hint => 'Entries are linked when they are issued or recorded.');
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION billing.chain_head_rules() IS
'Trigger on chain_head and global_chain_head: a head is written only by appends, one link at a time (PB002).';

CREATE OR REPLACE TRIGGER t10_chain_head_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.chain_head
FOR EACH ROW EXECUTE FUNCTION billing.chain_head_rules();

CREATE OR REPLACE TRIGGER t10_global_chain_head_rules
BEFORE INSERT OR UPDATE OR DELETE ON billing.global_chain_head
FOR EACH ROW EXECUTE FUNCTION billing.chain_head_rules();
