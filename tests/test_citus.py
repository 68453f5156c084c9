"""On a real Citus cluster (PGBILLING_TEST_CITUS=1; tests/citus.py): a call for one customer runs on that customer's
node alone, in autocommit and inside a transaction; rules hold on the workers' shards; `pgbilling migrate` runs
again on a distributed database; a rollback is refused there. The rest of the suite runs there as well."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from helpers import CITUS, Api, refused

from pgbilling import migrate
from pgbilling.errors import UserError

pytestmark = pytest.mark.skipif(not CITUS, reason="needs the real Citus cluster: PGBILLING_TEST_CITUS=1")


def remote_commands(conn: psycopg.Connection, call: Callable[[], object]) -> list[str]:
    """The commands Citus sends to other nodes while ``call`` runs, as it logs them (citus.log_remote_commands),
    on the coordinator and, forwarded from there, on the worker that runs a delegated call."""
    seen: list[str] = []

    def notice(diag: psycopg.errors.Diagnostic) -> None:
        if (diag.message_primary or "").startswith("issuing "):
            seen.append(diag.message_primary.removeprefix("issuing "))

    conn.add_notice_handler(notice)
    try:
        call()
    finally:
        conn.remove_notice_handler(notice)
    return seen


def test_every_call_for_a_customer_runs_on_its_node_alone(db: psycopg.Connection, db_url: str) -> None:
    # Logged on every node (ALTER DATABASE reaches the workers): what the coordinator sends, and what the worker
    # running a delegated call would send on, forwarded as notices; commands it runs locally say "executing".
    db.execute(f"ALTER DATABASE {db.info.dbname} SET citus.log_remote_commands = on")
    Api(db).create_product("A-1", "Widget")
    with psycopg.connect(db_url, autocommit=True) as conn:
        api = Api(conn)
        c = api.create_customer("Alice")
        sent: dict[str, list[str]] = {}

        def call(name: str, *args: object) -> object:
            result = []
            sent[name] = remote_commands(conn, lambda: result.append(getattr(api, name)(c, *args)))
            return result[0]

        order = call("place_order", "EUR", [{"sku": "A-1", "quantity": 4, "unit_price": 10}])
        call("add_order_charge", order, "SHIPPING", 5)
        inv = call("bill_order", order, {"1": 2})
        pay = call("record_payment", "EUR", 30, "CARD")
        call("allocate_payment", pay, inv, 10)
        call("auto_allocate", pay)
        call("issue_credit_note", inv, [{"line_no": 1, "quantity": 1}])
        other = call("issue_new_invoice", "EUR", [{"type": "fee", "fee_code": "ADMIN", "amount": 20}])
        call("dispute_invoice", other, "not ordered")
        call("resolve_dispute", other)
        sent["pay_invoices"] = remote_commands(conn, lambda: conn.execute(  # (an array, not the jsonb Api makes)
            "SELECT billing.pay_invoices(%s, 'EUR', 5, 'CASH', %s)", [c, [other]]))
        call("write_off", other, 1)
        call("refund", "EUR", 2, "CASH")
        call("void_invoice", other, "mistake")
        call("cancel_order", order, "customer left")
        call("cancel_payment", pay, "bounced")
        call("customer_statement", "2000-01-01", "2100-01-01")
        call("verify_chain")
        # one command per call: the call itself, to the customer's node, which sends nothing on
        assert {name: commands for name, commands in sent.items()
                if len(commands) != 1 or f"billing.{name}(" not in commands[0]} == {}

        # Inside a transaction too (force_delegation): BEGIN, the calls and COMMIT go to the customer's node
        # alone, and it commits on its own, without two-phase commit.
        def transaction() -> None:
            with conn.transaction():
                api.record_payment(c, "EUR", 7, "CASH")
                api.refund(c, "EUR", 7, "CASH")

        commands = remote_commands(conn, transaction)
    assert [command.split("(")[0].split(";")[0] for command in commands] == [
        "BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED", "SELECT billing.record_payment", "SELECT billing.refund",
        "COMMIT"], commands


def test_rules_hold_on_the_workers_own_shards(db: psycopg.Connection, api: Api, citus_cluster, db_url: str) -> None:
    c = api.create_customer("Alice")
    inv = api.issue_new_invoice(c, "EUR", [{"type": "fee", "fee_code": "ADMIN", "amount": 20}])
    for port in citus_cluster.ports[1:]:  # straight to each worker: one of them holds the customer's shards
        with psycopg.connect(db_url.replace(f":{citus_cluster.port}/", f":{port}/"), autocommit=True) as worker:
            refused(worker, "PB001", "UPDATE billing.invoice SET total = 0 WHERE customer_id = %s AND invoice_id = %s",
                    [c, inv])
            refused(worker, "PB001", "DELETE FROM billing.invoice_line WHERE customer_id = %s", [c])


def test_migrate_runs_again_on_a_distributed_database(db: psycopg.Connection, api: Api, db_url: str) -> None:
    c = api.create_customer("Alice")
    api.issue_new_invoice(c, "EUR", [{"type": "fee", "fee_code": "ADMIN", "amount": 20}])
    assert migrate.migrate(db_url) == []
    assert api.issue_new_invoice(c, "EUR", [{"type": "fee", "fee_code": "ADMIN", "amount": 5}])
    assert db.execute("SELECT count(*) FROM billing.verify_chain()").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM billing.verify_balances()").fetchone() == (0,)


def test_rollback_of_a_distributed_database_is_refused(db_url: str) -> None:
    before = [s.state for s in migrate.status(db_url)]
    with pytest.raises(UserError, match="distributed on Citus"):
        migrate.rollback(db_url)
    assert [s.state for s in migrate.status(db_url)] == before
