"""The PostgreSQL connection pool at the store's level (store/postgres/pool.py):
Coordination's calls from several threads at once each on a connection of its
own, and a connection the database ended never lent again."""

from __future__ import annotations

import threading

import psycopg
import pytest

from portside.server.runner import encode_task
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))


def open_store(dsn: str):
    from portside.store.postgres import PostgresStore

    return PostgresStore(dsn, encode_task=encode_task, key_file=postgres.key_file(dsn))


def test_coordination_calls_from_two_threads_never_share_a_connection() -> None:
    """While one thread's lease renewal waits inside PostgreSQL (another session
    holds the lease row), another thread's call goes through: on one shared
    connection it would wait behind the first (psycopg runs one statement at
    a time per connection)."""
    from portside.store.postgres import PostgresCoordination

    dsn = postgres.fresh_database()
    store = open_store(dsn)
    coordination = PostgresCoordination(dsn, store.connections)
    renewed: list[int | None] = []
    try:
        with psycopg.connect(dsn) as blocker:  # a transaction: the row lock is held until it ends
            blocker.execute("SELECT 1 FROM leader_lease WHERE id = 1 FOR UPDATE")
            renewal = threading.Thread(target=lambda: renewed.append(coordination.renew_lease("a", 5)))
            renewal.start()
            waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s"
            with psycopg.connect(dsn, autocommit=True) as watcher:
                database = dsn.rsplit("/", 1)[-1]
                for _ in range(200):
                    if watcher.execute(waiting, (database,)).fetchone()[0]:
                        break
                    threading.Event().wait(0.05)
                else:
                    raise AssertionError("the renewal never waited for the row lock")
            shared: list[dict[str, float]] = []
            other = threading.Thread(target=lambda: shared.append(coordination.share_agent_polls({"i-1": 1.0})))
            other.start()
            other.join(10)
            assert shared == [{"i-1": 1.0}], "the second thread's call waited for the first's connection"
            assert renewal.is_alive() and not renewed
            assert store.pool_stats().size >= 3  # the request connection and one for each call
        renewal.join(10)
        assert renewed and renewed[0] is not None
    finally:
        coordination.close()
        store.close()


def test_a_connection_the_database_ended_is_never_lent_again() -> None:
    """Sessions ended from outside (a restart, an administrator): the pool's
    idle connections are checked when lent, so the next Coordination call
    gets a working one and succeeds; the lost ones are counted."""
    from portside.store.postgres import PostgresCoordination

    dsn = postgres.fresh_database()
    store = open_store(dsn)
    coordination = PostgresCoordination(dsn, store.connections)
    try:
        assert coordination.share_agent_polls({"i-1": 1.0}) == {"i-1": 1.0}
        assert store.pool_stats().available >= 1
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert coordination.share_agent_polls({"i-2": 2.0}) == {"i-1": 1.0, "i-2": 2.0}
        assert coordination.renew_lease("a", 5) is not None
        assert store.pool_stats().lost >= 1
    finally:
        coordination.close()
        store.close()
