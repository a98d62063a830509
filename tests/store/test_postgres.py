"""What the PostgreSQL store does beyond the contract every backend passes
(tests/store/test_contract.py): its schema versions, and writers on several
connections (several servers) taking turns."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from portside.server.runner import encode_task
from portside.store.interface import SchemaTooNew
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))


def open_store(dsn: str):
    from portside.store.postgres import PostgresStore

    return PostgresStore(dsn, encode_task=encode_task, key_file=postgres.key_file(dsn))


def cluster(name: str) -> dict:
    return {"clusterName": name, "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{name}",
            "status": "ACTIVE"}


def test_a_database_of_a_newer_portside_is_refused_in_one_line() -> None:
    from portside.store.postgres import latest_schema_version

    dsn = postgres.fresh_database()
    store = open_store(dsn)
    assert store.schema_version() == latest_schema_version()
    store.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(latest_schema_version() + 1),))
    with pytest.raises(SchemaTooNew) as refused:
        open_store(dsn)
    message = str(refused.value)
    assert "\n" not in message and f"schema version {latest_schema_version() + 1}" in message


def test_writers_take_turns_and_the_second_sees_the_firsts_change() -> None:
    """What keeps two servers from booking the same capacity: a second
    transaction begins only once the first has committed, and begins with a
    new generation (so the placement cache it read before is dropped)."""
    dsn = postgres.fresh_database()
    first, second = open_store(dsn), open_store(dsn)
    try:
        seen = second.generation()
        entered = threading.Event()
        order: list[str] = []

        def hold() -> None:
            with first.transaction():
                first.put_cluster(cluster("a"))
                entered.set()
                time.sleep(0.5)
                order.append("first commits")

        holder = threading.Thread(target=hold)
        holder.start()
        assert entered.wait(10)
        with second.transaction():
            order.append("second begins")
            assert second.generation() != seen
            assert second.get_cluster("a") is not None
        holder.join()
        assert order == ["first commits", "second begins"]
    finally:
        first.close()
        second.close()


def test_a_first_version_database_is_upgraded_on_open_keeping_its_data() -> None:
    """A database left at step 1 (before several servers, logs and secrets)
    takes the later steps when a newer Portside opens it, its rows kept."""
    from portside.store.postgres import latest_schema_version
    from portside.store.postgres.database import connect
    from portside.store.postgres.migrations import STEPS, migrate

    dsn = postgres.fresh_database()
    with connect(dsn) as conn:
        assert migrate(conn, "old", STEPS[:1]) == 1
        conn.execute("INSERT INTO clusters (name, arn, status, doc) VALUES (%s, %s, 'ACTIVE', %s)",
                     ("old", cluster("old")["clusterArn"], json.dumps(cluster("old"))))
    assert latest_schema_version() > 1
    store = open_store(dsn)
    try:
        assert store.schema_version() == latest_schema_version()
        assert store.get_cluster("old") == cluster("old")
        with store.transaction():  # the tables of the later steps are there
            store.put_cluster(cluster("new"))
        assert store.secrets.all() == []  # step 3's tables
    finally:
        store.close()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
            str(latest_schema_version())
        assert conn.execute("SELECT COUNT(*) FROM leader_lease").fetchone()[0] == 1  # step 2
