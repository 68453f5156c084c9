-- 0016_tamper_evidence: hash chains over every issued invoice and credit note, payment, refund and allocation
-- (README, Tamper evidence). chain_link holds one link per entry: the SHA-256 of the entry's canonical content and
-- of the previous link; chain_head holds the last link of each chain of one customer, global_chain_head that of
-- each chain over all customers (a global number series). The triggers and functions are in functions/88_chain.sql.
-- Links for the entries that exist already are appended by functions/88_chain.sql the first time it is applied
-- after this migration (the same migrate run, moments later), in the transaction that creates the triggers linking
-- new entries, so no entry written in between is missed.
-- Locks: this migration takes none that block writes (new tables; the foreign keys to billing.customer hold a
-- SHARE ROW EXCLUSIVE lock on it for an instant, no scan). The first apply of functions/ after it holds the lock of
-- CREATE TRIGGER (SHARE ROW EXCLUSIVE: writes wait, reads go on) on billing.invoice, payment, refund_part and
-- allocation while it links every existing entry, a time that grows with their rows: migrate in a quiet hour.
-- (noqa: RF04 below: PostgreSQL takes chain unquoted as a column name; it is a keyword only in COMMIT AND CHAIN.)
CREATE TABLE billing.chain_link (
    customer_id bigint NOT NULL,
    chain text NOT NULL, -- noqa: RF04
    link_no bigint NOT NULL,
    scope text NOT NULL,
    entry text NOT NULL,
    entry_id bigint NOT NULL,
    content_hash bytea NOT NULL,
    link_hash bytea NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT chain_link_pkey PRIMARY KEY (customer_id, chain, link_no),
    CONSTRAINT chain_link_entry_key UNIQUE (customer_id, entry, entry_id),
    CONSTRAINT chain_link_customer_fkey FOREIGN KEY (customer_id) REFERENCES billing.customer (customer_id),
    CONSTRAINT chain_link_link_no_check CHECK (link_no > 0),
    CONSTRAINT chain_link_scope_check CHECK (
        scope IN ('global', 'per_customer') AND (scope = 'per_customer' OR entry IN ('invoice', 'credit_note'))
    ),
    CONSTRAINT chain_link_entry_check CHECK (entry IN ('invoice', 'credit_note', 'payment', 'refund', 'allocation')),
    CONSTRAINT chain_link_hash_check CHECK (octet_length(content_hash) = 32 AND octet_length(link_hash) = 32)
);

-- A chain over all customers is read in link order across customers (verify_chain).
CREATE INDEX chain_link_global_idx ON billing.chain_link (chain, link_no) WHERE scope = 'global';

COMMENT ON TABLE billing.chain_link IS
'Tamper evidence: one link per issued invoice or credit note, payment, refund and allocation, appended by '
'triggers when the entry is written, in its chain (README, Tamper evidence). Append-only (PB001); only '
'pgbilling''s triggers insert (PB002). billing.verify_chain recomputes the links.';
COMMENT ON COLUMN billing.chain_link.customer_id IS 'The customer of the entry.';
COMMENT ON COLUMN billing.chain_link.chain IS
'The chain the entry joins: INV or CN (a global number series: one chain over all customers, scope global); '
'INV-7 or CN-7 (the series of customer 7); payments, refunds (per customer); allocations from payment 12, '
'allocations from credit note 34 (per credit source). For a document, its number without the trailing number.';
COMMENT ON COLUMN billing.chain_link.link_no IS
'Position in the chain: 1, 2, ... without gaps. Of a global chain, the position among all customers'' links.';
COMMENT ON COLUMN billing.chain_link.scope IS
'global: the chain spans all customers and its head is in billing.global_chain_head; per_customer: the chain is '
'the customer''s own and its head is in billing.chain_head.';
COMMENT ON COLUMN billing.chain_link.entry IS 'What is linked: invoice, credit_note, payment, refund or allocation.';
COMMENT ON COLUMN billing.chain_link.entry_id IS
'The id of the entry: invoice_id (invoice and credit_note), payment_id, refund_id or allocation_id.';
COMMENT ON COLUMN billing.chain_link.content_hash IS
'sha256 of billing.chain_content(customer_id, entry, entry_id) in UTF-8, taken when the entry was linked.';
COMMENT ON COLUMN billing.chain_link.link_hash IS
'sha256(link_hash of the previous link || content_hash); before link 1 stand 32 zero bytes.';
COMMENT ON COLUMN billing.chain_link.linked_at IS 'When the link was appended (clock time).';

CREATE TABLE billing.chain_head (
    customer_id bigint NOT NULL,
    chain text NOT NULL, -- noqa: RF04
    link_no bigint NOT NULL,
    link_hash bytea NOT NULL,
    CONSTRAINT chain_head_pkey PRIMARY KEY (customer_id, chain),
    CONSTRAINT chain_head_customer_fkey FOREIGN KEY (customer_id) REFERENCES billing.customer (customer_id),
    CONSTRAINT chain_head_link_no_check CHECK (link_no >= 0),
    CONSTRAINT chain_head_link_hash_check CHECK (octet_length(link_hash) = 32)
);

COMMENT ON TABLE billing.chain_head IS
'The last link of each chain of one customer (scope per_customer): locked by each append until commit, created '
'with the chain''s first link. Kept by pgbilling''s triggers only (PB002). Publish the heads elsewhere '
'(billing.chain_heads) to detect a chain rewritten from some link to its end.';
COMMENT ON COLUMN billing.chain_head.chain IS 'The chain (billing.chain_link.chain).';
COMMENT ON COLUMN billing.chain_head.link_no IS
'link_no of the chain''s last link; 0 only while the first is appended.';
COMMENT ON COLUMN billing.chain_head.link_hash IS
'link_hash of the chain''s last link (32 zero bytes while the first is appended).';

CREATE TABLE billing.global_chain_head (
    chain text NOT NULL, -- noqa: RF04
    link_no bigint NOT NULL,
    link_hash bytea NOT NULL,
    CONSTRAINT global_chain_head_pkey PRIMARY KEY (chain),
    CONSTRAINT global_chain_head_link_no_check CHECK (link_no >= 0),
    CONSTRAINT global_chain_head_link_hash_check CHECK (octet_length(link_hash) = 32)
);

COMMENT ON TABLE billing.global_chain_head IS
'The last link of each chain over all customers (scope global: a number series kept for all customers, INV, CN). '
'Appends to it hold the series'' row lock already, so it adds no waiting. Kept by pgbilling''s triggers only '
'(PB002).';
COMMENT ON COLUMN billing.global_chain_head.chain IS 'The chain: the prefix of the number series (INV, CN).';
COMMENT ON COLUMN billing.global_chain_head.link_no IS
'link_no of the chain''s last link; 0 only while the first is appended.';
COMMENT ON COLUMN billing.global_chain_head.link_hash IS
'link_hash of the chain''s last link (32 zero bytes while the first is appended).';
