-- Comparison 4: record a payment of 1.00 to 50.00 for a random customer of a group and auto_allocate it, committed.
\set cid :first_customer + random(0, :customers - 1)
\set cents random(100, 5000)
BEGIN;
SELECT billing.record_payment(:cid, 'EUR', :cents::numeric / 100, 'CARD') AS pid \gset
SELECT count(*) FROM billing.auto_allocate(:cid, :pid);
END;
