"""Tamper evidence: every issued document, payment, refund and allocation is a link of a hash chain; verify_chain
recomputes the chains and names the first broken link; appending adds no waiting between customers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
from helpers import CITUS, NUMBERING, D, Api, behind_the_triggers, doc_no, refused, run_together, wait_until_blocked
from yoyo import read_migrations

from pgbilling import migrate, paths

MIGRATION = "0016_tamper_evidence"
ZERO = bytes(32)


def series_chain(prefix: str, customer: int) -> str:
    """The chain of a number series, as this run numbers documents: INV (global) or INV-7 (customer 7's)."""
    return f"{prefix}-{customer}" if NUMBERING == "per_customer" else prefix


def issued(api: Api, c: int, amount: Decimal | int = 100) -> int:
    inv = api.create_invoice(c, "EUR")
    api.add_fee_line(c, inv, "ADMIN", amount)
    api.issue_invoice(c, inv)
    return inv


def links(db: psycopg.Connection, c: int) -> set[tuple]:
    return set(db.execute("SELECT chain, link_no, entry, entry_id FROM billing.chain_link WHERE customer_id = %s", [c]))


def verify(db: psycopg.Connection, customer: int | None = None) -> list[tuple]:
    return db.execute("SELECT * FROM billing.verify_chain(%s)", [customer]).fetchall()


def link_of(db: psycopg.Connection, c: int, entry: str, entry_id: int) -> tuple[str, int]:
    return db.execute("SELECT chain, link_no FROM billing.chain_link WHERE customer_id = %s AND entry = %s AND entry_id = %s",
                      [c, entry, entry_id]).fetchone()


def test_every_issued_document_payment_refund_and_allocation_is_linked_in_its_chain(db, api, shop) -> None:
    c = shop["customer"]
    inv = issued(api, c, 100)
    draft = api.create_invoice(c, "EUR")
    api.add_fee_line(c, draft, "ADMIN", 5)
    pay = api.record_payment(c, "EUR", 150, "BANK_TRANSFER")
    alloc = api.allocate_payment(c, pay, inv)
    reversal = api.unallocate(c, alloc)
    cn = api.issue_credit_note(c, inv, [{"line_no": 1, "amount": 40}])  # applies itself to the open invoice
    cn_alloc = db.execute("SELECT allocation_id FROM billing.allocation WHERE credit_note_id = %s", [cn]).fetchone()[0]
    refund = api.refund(c, "EUR", 20, "BANK_TRANSFER", "overpaid")
    assert links(db, c) == {
        (series_chain("INV", c), 1, "invoice", inv),
        (series_chain("CN", c), 1, "credit_note", cn),
        ("payments", 1, "payment", pay),
        ("refunds", 1, "refund", refund),
        (f"allocations from payment {pay}", 1, "allocation", alloc),
        (f"allocations from payment {pay}", 2, "allocation", reversal),
        (f"allocations from credit note {cn}", 1, "allocation", cn_alloc),
    }
    # An auditor's own recomputation, as README documents it: content_hash = sha256(chain_content in UTF-8),
    # link_hash = sha256(previous link_hash || content_hash), 32 zero bytes before link 1.
    previous: dict[str, bytes] = {}
    for chain, entry, entry_id, content_hash, link_hash in db.execute(
            "SELECT chain, entry, entry_id, content_hash, link_hash"
            " FROM billing.chain_link WHERE customer_id = %s ORDER BY chain, link_no", [c]).fetchall():
        content = db.execute("SELECT billing.chain_content(%s, %s, %s)", [c, entry, entry_id]).fetchone()[0]
        assert content_hash == hashlib.sha256(content.encode()).digest()
        assert link_hash == hashlib.sha256(previous.get(chain, ZERO) + content_hash).digest()
        previous[chain] = link_hash
    own = {chain: (n, previous[chain].hex()) for chain, n in db.execute(
        "SELECT chain, max(link_no) FROM billing.chain_link WHERE customer_id = %s AND scope = 'per_customer'"
        " GROUP BY chain", [c])}
    assert {chain: (link_no, link_hash) for chain, _, link_no, link_hash, _ in
            db.execute("SELECT * FROM billing.chain_heads(%s)", [c])} == own
    assert verify(db) == []


def test_chain_heads_list_the_last_link_of_every_chain(db, api, shop) -> None:
    c, other = shop["customer"], shop["other"]
    issued(api, c)
    issued(api, other)
    api.record_payment(other, "EUR", 10, "CASH")
    api.record_payment(c, "EUR", 10, "CASH")
    last = api.record_payment(c, "EUR", 20, "CASH")
    heads = {(chain, customer): (link_no, link_hash) for chain, customer, link_no, link_hash, _ in
             db.execute("SELECT * FROM billing.chain_heads()")}
    payments = db.execute("SELECT link_no, encode(link_hash, 'hex') FROM billing.chain_link"
                          " WHERE customer_id = %s AND entry = 'payment' AND entry_id = %s", [c, last]).fetchone()
    assert heads[("payments", c)] == payments == (2, payments[1])
    if NUMBERING == "global":
        assert heads[("INV", None)][0] == 2  # one chain over both customers' invoices
    else:
        assert heads[(f"INV-{c}", c)][0] == heads[(f"INV-{other}", other)][0] == 1
    assert [(chain, customer) for chain, customer, *_ in db.execute("SELECT * FROM billing.chain_heads(%s)", [other])] == (
        [("payments", other)] if NUMBERING == "global" else [(f"INV-{other}", other), ("payments", other)])


def test_verify_chain_finds_nothing_after_a_realistic_history_whatever_the_session_settings(db, api, shop) -> None:
    db.execute((paths.SEEDS / "demo.sql").read_text(encoding="utf-8"))  # orders, credit notes, cancellations, ...
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 4, "unit_price": 12.5}])
    inv = api.bill_order(c, order)
    api.allocate_payment(c, api.record_payment(c, "EUR", 30, "CARD"), inv)
    card = api.record_payment(c, "EUR", 20, "CARD")
    api.allocate_payment(c, card, inv)
    api.cancel_payment(c, card, "chargeback")
    api.issue_credit_note(c, inv, [{"line_no": 1, "quantity": 1}], "returned")
    other = issued(api, c, 80)
    api.write_off(c, other, 5)
    api.void_invoice(c, other, "wrong customer")
    api.record_payment(c, "EUR", 10, "CASH")  # open credit
    api.refund(c, "EUR", D("7.50"), "BANK_TRANSFER")
    api.cancel_order(c, order, "customer withdrew")
    kinds = dict(db.execute("SELECT entry, count(*) FROM billing.chain_link GROUP BY entry"))
    assert set(kinds) == {"invoice", "credit_note", "payment", "refund", "allocation"}, kinds
    assert verify(db) == []
    assert verify(db, c) == []
    db.execute("SET TimeZone = 'Pacific/Kiritimati'")
    db.execute("SET DateStyle = 'SQL, DMY'")
    assert verify(db) == []


def test_a_line_amount_changed_behind_the_triggers_is_pinpointed(db, api, shop) -> None:
    c, other = shop["customer"], shop["other"]
    issued(api, c, 10)
    inv = issued(api, c, 20)
    issued(api, other, 30)
    issued(api, c, 40)
    behind_the_triggers(db, "UPDATE billing.invoice_line SET amount = 2, unit_amount = 2"
                            " WHERE customer_id = %s AND invoice_id = %s", [c, inv])
    chain, link_no = link_of(db, c, "invoice", inv)
    assert (chain, link_no) == (series_chain("INV", c), 2)
    expected = [(chain, link_no, c, "invoice", inv, f"invoice {doc_no('INV', 2, c)} of customer {c}",
                 "the entry changed after it was linked")]
    assert verify(db) == expected
    assert verify(db, c) == expected
    assert verify(db, other) == ([] if NUMBERING == "per_customer" else expected)  # a global chain is checked whole


def test_a_deleted_issued_document_is_pinpointed(db, api, shop) -> None:
    c = shop["customer"]
    first = issued(api, c)
    api.issue_credit_note(c, first, [{"line_no": 1, "amount": 10}])
    note = api.issue_credit_note(c, first, [{"line_no": 1, "amount": 5}])
    api.issue_credit_note(c, first, [{"line_no": 1, "amount": 1}])
    chain, link_no = link_of(db, c, "credit_note", note)
    behind_the_triggers(db, "DELETE FROM billing.invoice WHERE customer_id = %s AND invoice_id = %s", [c, note])
    assert verify(db) == [(chain, link_no, c, "credit_note", note, f"invoice id {note} of customer {c}",
                           "the entry is gone")]


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_deleted_link_is_pinpointed(db, api, shop, which) -> None:
    c = shop["customer"]
    payments = [api.record_payment(c, "EUR", amount, "CASH") for amount in (10, 20, 30)]
    gone = payments[1] if which == "middle" else payments[2]
    behind_the_triggers(db, "DELETE FROM billing.chain_link WHERE customer_id = %s AND entry = 'payment' AND entry_id = %s",
                        [c, gone])
    unlinked = ("payments", None, c, "payment", gone, f"payment PAY-{gone} of customer {c}", "the entry has no link")
    if which == "middle":
        broken = ("payments", 3, c, "payment", payments[2], f"payment PAY-{payments[2]} of customer {c}",
                  "link 2 is missing")
    else:
        broken = ("payments", 2, c, "payment", payments[1], f"payment PAY-{payments[1]} of customer {c}",
                  "the head is at link 3, the last link is 2")
    assert verify(db) == [broken, unlinked]


def test_an_edited_link_hash_or_head_is_pinpointed(db, api, shop) -> None:
    c = shop["customer"]
    first, second = api.record_payment(c, "EUR", 10, "CASH"), api.record_payment(c, "EUR", 20, "CASH")
    where = " WHERE customer_id = %s AND entry = 'payment' AND entry_id = %s"
    behind_the_triggers(db, "UPDATE billing.chain_link SET link_hash = sha256(link_hash)" + where, [c, first])
    assert verify(db) == [("payments", 1, c, "payment", first, f"payment PAY-{first} of customer {c}",
                           "link_hash does not follow from the previous link and content_hash")]
    behind_the_triggers(db, "UPDATE billing.chain_link SET link_hash = sha256(decode(repeat('00', 32), 'hex')"
                            " || content_hash)" + where, [c, first])  # put back as it was
    assert verify(db) == []
    behind_the_triggers(db, "UPDATE billing.chain_head SET link_hash = sha256(link_hash)"
                            " WHERE customer_id = %s AND chain = 'payments'", [c])
    assert verify(db) == [("payments", 2, c, "payment", second, f"payment PAY-{second} of customer {c}",
                           "the head's link_hash is not the last link's")]


def test_an_entry_written_behind_the_triggers_stays_unlinked_and_named_after_a_migrate(db, db_url, api, shop) -> None:
    c = shop["customer"]
    api.record_payment(c, "EUR", 10, "CASH")
    behind_the_triggers(db, "INSERT INTO billing.payment (customer_id, payment_no, currency, amount, method_id)"
                            " VALUES (%s, 'FORGED-1', 'EUR', 1000, 1)", [c])
    forged = db.execute("SELECT payment_id FROM billing.payment WHERE payment_no = 'FORGED-1'").fetchone()[0]
    named = [("payments", None, c, "payment", forged, f"payment FORGED-1 of customer {c}", "the entry has no link")]
    assert verify(db) == named
    assert migrate.migrate(db_url) == []  # functions/ applied again: links only what existed before 0016
    assert verify(db) == named


def test_an_upgraded_database_links_its_existing_entries_in_chain_order(db, db_url, api, shop) -> None:
    db.execute((paths.SEEDS / "demo.sql").read_text(encoding="utf-8"))
    c = shop["customer"]
    inv = issued(api, c)
    api.allocate_payment(c, api.record_payment(c, "EUR", 150, "CARD"), inv)
    api.refund(c, "EUR", 50, "CASH")
    ids = [m.id for m in read_migrations(str(paths.MIGRATIONS))]
    migrate.rollback(db_url, to=ids[ids.index(MIGRATION) - 1][:4], drop_data=True)  # the links go; migrate relinks
    assert db.execute("SELECT to_regclass('billing.chain_link')").fetchone() == (None,)
    issued(api, c)  # the release before still works: nothing of 0016 is left behind
    entries = db.execute("SELECT (SELECT count(*) FROM billing.invoice WHERE status = 'issued')"
                         " + (SELECT count(*) FROM billing.payment) + (SELECT count(*) FROM billing.refund)"
                         " + (SELECT count(*) FROM billing.allocation)").fetchone()[0]
    assert entries > 20, "the data did not load: the test would prove nothing"
    assert migrate.migrate(db_url) == ids[ids.index(MIGRATION):]  # 0016 and any later migration
    assert db.execute("SELECT count(*) FROM billing.chain_link").fetchone()[0] == entries
    assert verify(db) == []
    # documents in number order, payments, refunds and allocations in id order
    chains: dict[tuple, list[int]] = {}
    for scope, customer, chain, entry, entry_id, number in db.execute(
            "SELECT l.scope, l.customer_id, l.chain, l.entry, l.entry_id, i.invoice_no FROM billing.chain_link AS l"
            " LEFT JOIN billing.invoice AS i ON l.entry IN ('invoice', 'credit_note') AND i.customer_id = l.customer_id"
            " AND i.invoice_id = l.entry_id ORDER BY l.link_no"):
        key = (chain, None if scope == "global" else customer)
        chains.setdefault(key, []).append(int(number.rsplit("-", 1)[1]) if number else entry_id)
    assert len(chains) > 10
    assert {key: order for key, order in chains.items() if order != sorted(order)} == {}
    issued(api, c)  # and new entries follow
    assert verify(db) == []


def test_chain_tables_refuse_every_write_but_the_triggers(db, api, shop) -> None:
    c = shop["customer"]
    pay = api.record_payment(c, "EUR", 10, "CASH")
    if not CITUS:  # on Citus every series is per customer: there is no global chain
        db.execute("UPDATE billing.document_series SET scope = 'global' WHERE scope <> 'global'")
    issued(api, c)  # a global chain's head too, where there are global chains
    refused(db, "PB001", "UPDATE billing.chain_link SET linked_at = now() WHERE customer_id = %s", [c])
    refused(db, "0A000" if CITUS else "PB001", "UPDATE billing.chain_link SET customer_id = %s WHERE customer_id = %s",
            [shop["other"], c])  # on Citus, Citus refuses a change of the distribution column first
    refused(db, "PB001", "DELETE FROM billing.chain_link WHERE customer_id = %s", [c])
    refused(db, "PB001", "TRUNCATE billing.chain_link")
    refused(db, "PB002", "INSERT INTO billing.chain_link (customer_id, chain, link_no, scope, entry, entry_id, content_hash,"
                         " link_hash) VALUES (%s, 'payments', 2, 'per_customer', 'payment', %s, sha256(''), sha256(''))",
            [c, pay])
    refused(db, "PB002", "SELECT billing.chain_append(%s, 'payment', %s)", [c, pay])
    refused(db, "PB002", "UPDATE billing.chain_head SET link_no = link_no + 1 WHERE customer_id = %s", [c])
    refused(db, "PB002", "DELETE FROM billing.chain_head WHERE customer_id = %s", [c])
    refused(db, "PB002", "INSERT INTO billing.chain_head VALUES (%s, 'mine', 0, decode(repeat('00', 32), 'hex'))", [c])
    refused(db, "PB001", "TRUNCATE billing.chain_head")
    refused(db, "PB002", "INSERT INTO billing.global_chain_head VALUES ('X', 0, decode(repeat('00', 32), 'hex'))")
    if not CITUS:
        refused(db, "PB002", "UPDATE billing.global_chain_head SET link_no = link_no + 1")
        refused(db, "PB002", "DELETE FROM billing.global_chain_head")
    refused(db, "PB001", "TRUNCATE billing.global_chain_head")
    assert verify(db) == []


def hold_and_run(db_url: str, first: Callable[[psycopg.Connection], object],
                 second: Callable[[psycopg.Connection], object]) -> list[object]:
    """first runs in a transaction that stays open until second has finished; second may not wait for it."""
    holding, done = threading.Event(), threading.Event()

    def hold(conn: psycopg.Connection) -> object:
        with conn.transaction():
            result = first(conn)
            holding.set()
            assert done.wait(30), "the second call waited for the first one's locks"
        return result

    def run(conn: psycopg.Connection) -> object:
        assert holding.wait(30), "the first call failed"
        conn.execute("SET lock_timeout = '5s'")
        result = second(conn)
        done.set()
        return result

    return run_together(db_url, [hold, run])


@pytest.mark.parametrize("entry", ["invoice", "credit_note", "payment", "refund", "allocation"])
def test_appending_to_the_chains_of_different_customers_waits_for_nothing(db, db_url, api, shop, entry) -> None:
    c, other = shop["customer"], shop["other"]
    db.execute("UPDATE billing.document_series SET scope = 'per_customer' WHERE scope <> 'per_customer'")
    prepared: dict[int, Callable[[psycopg.Connection], object]] = {}
    for customer in (c, other):
        inv = api.create_invoice(customer, "EUR")
        api.add_fee_line(customer, inv, "ADMIN", 50)
        if entry != "invoice":
            api.issue_invoice(customer, inv)
        pay = api.record_payment(customer, "EUR", 20, "CASH")
        calls = {
            "invoice": "SELECT billing.issue_invoice(%(c)s, %(inv)s)",
            "credit_note": "SELECT billing.issue_credit_note(%(c)s, %(inv)s)",
            "payment": "SELECT billing.record_payment(%(c)s, 'EUR', 10, 'CARD')",
            "refund": "SELECT billing.refund(%(c)s, 'EUR', 10, 'CASH')",
            "allocation": "SELECT billing.allocate_payment(%(c)s, %(pay)s, %(inv)s)",
        }
        prepared[customer] = (lambda conn, sql=calls[entry], args={"c": customer, "inv": inv, "pay": pay}:
                              conn.execute(sql, args).fetchone()[0])
    results = hold_and_run(db_url, prepared[c], prepared[other])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert verify(db) == []


def test_a_customers_payments_chain_takes_one_payment_at_a_time(db, db_url, api, shop) -> None:
    """The control for the test above: the payments head is a lock, so that test could fail."""
    c = shop["customer"]
    api.record_payment(c, "EUR", 5, "CASH")  # the chain exists
    with psycopg.connect(db_url) as holder, psycopg.connect(db_url, autocommit=True) as second:
        first = holder.execute("SELECT billing.record_payment(%s, 'EUR', 10, 'CARD')", [c]).fetchone()[0]
        thread = threading.Thread(target=lambda: second.execute("SELECT billing.record_payment(%s, 'EUR', 20, 'CARD')", [c]))
        thread.start()
        wait_until_blocked(holder)
        holder.commit()
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert db.execute("SELECT link_no FROM billing.chain_link WHERE entry = 'payment' AND entry_id = %s",
                      [first]).fetchone() == (2,)
    assert db.execute("SELECT max(link_no) FROM billing.chain_link WHERE customer_id = %s AND chain = 'payments'",
                      [c]).fetchone() == (3,)
    assert verify(db) == []


def test_a_refund_does_not_wait_for_a_payment_being_recorded_for_the_same_customer(db, db_url, api, shop) -> None:
    """cancel_order refunds while it holds the invoices that pay_invoices, holding its new payment, waits for: the
    refunds chain is not the payments chain, so the two cannot deadlock."""
    c = shop["customer"]
    order = api.place_order(c, "EUR", [{"sku": "A-1", "quantity": 2, "unit_price": 10}])
    inv = api.bill_order(c, order)
    api.allocate_payment(c, api.record_payment(c, "EUR", 20, "CARD"), inv)
    results = hold_and_run(
        db_url,
        lambda conn: conn.execute("SELECT billing.record_payment(%s, 'EUR', 30, 'CASH')", [c]).fetchone()[0],
        lambda conn: conn.execute("SELECT billing.cancel_order(%s, %s, 'withdrawn')", [c, order]).fetchone()[0],
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert db.execute("SELECT count(*) FROM billing.chain_link WHERE customer_id = %s AND chain = 'refunds'",
                      [c]).fetchone() == (1,)
    assert verify(db) == []
