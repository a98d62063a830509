"""Group commit on PostgreSQL, as on SQLite (tests/store/test_store_commit.py):
the transactions of requests handled in one loop iteration share one COMMIT;
nothing is visible to another connection (so nothing may be acknowledged)
before `durable()` returns; a failing request undoes only itself, whether it
failed in Python or in PostgreSQL (which aborts the whole transaction unless
rolled back to the request's savepoint); a COMMIT that fails fails every
request of its batch; a batch's notices go out with its COMMIT, those of a
failed request never."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from portside.server.runner import encode_task
from portside.store.interface import StoreUnavailable
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))


def open_store(dsn: str):
    from portside.store.postgres import PostgresStore

    return PostgresStore(dsn, encode_task=encode_task, key_file=postgres.key_file(dsn))


def cluster(name: str) -> dict:
    return {"clusterName": name, "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{name}",
            "status": "ACTIVE"}


def committed_names(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as other:
        return {row[0] for row in other.execute("SELECT name FROM clusters")}


def put(store, name: str) -> None:
    with store.transaction():
        store.put_cluster(cluster(name))


@pytest.mark.parametrize("failure", ["python", "sql"])
@pytest.mark.parametrize("position", ["first", "middle"])
def test_requests_share_a_commit_and_a_failed_one_undoes_only_itself(failure: str, position: str) -> None:
    dsn = postgres.fresh_database()
    store = open_store(dsn)

    def failing() -> None:
        try:
            with store.transaction():
                store.put_cluster(cluster("undone"))
                if failure == "sql":
                    store._db.execute("SELECT 1 / 0")  # PostgreSQL aborts the transaction
                raise RuntimeError("the handler failed")
        except (RuntimeError, psycopg.Error):
            pass

    async def scenario() -> None:
        if position == "first":
            failing()
        put(store, "one")
        if position == "middle":
            failing()
        put(store, "two")
        assert committed_names(dsn) == set()  # one open batch: nothing committed, nothing answered yet
        batch = store._batch
        assert batch is not None and batch.requests == (2 if position == "first" else 3)
        await store.durable()
        assert committed_names(dsn) == {"one", "two"}

    try:
        asyncio.run(scenario())
        assert store.get_cluster("undone") is None
    finally:
        store.close()


def test_without_a_loop_every_transaction_commits_at_once() -> None:
    dsn = postgres.fresh_database()
    store = open_store(dsn)
    try:
        put(store, "now")
        assert committed_names(dsn) == {"now"}
    finally:
        store.close()


def test_a_failed_commit_fails_its_requests_and_nothing_is_kept() -> None:
    """The connection is cut while the batch is open: its COMMIT cannot
    happen, every request of the batch gets StoreUnavailable (answered as
    ServerException), and the next request reconnects."""
    dsn = postgres.fresh_database()
    store = open_store(dsn)

    async def scenario() -> None:
        put(store, "lost1")
        put(store, "lost2")
        pid = store._db.current().info.backend_pid
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreUnavailable):
            await store.durable()
        await store.settled()
        put(store, "kept")
        await store.durable()

    try:
        asyncio.run(scenario())
        assert committed_names(dsn) == {"kept"}
    finally:
        store.close()


def test_a_batch_sends_its_notices_with_its_commit_and_not_a_failed_requests() -> None:
    dsn = postgres.fresh_database()
    store = open_store(dsn)
    listener = psycopg.connect(dsn, autocommit=True)
    listener.execute("LISTEN portside")

    async def scenario() -> None:
        with store.transaction():
            store.announce("a")
            store.announce("b")
        try:
            with store.transaction():
                store.announce("never")
                raise RuntimeError("the handler failed")
        except RuntimeError:
            pass
        with store.transaction():
            store.announce("a")  # the same notice twice in a batch goes once
            store.announce("c")
        await store.durable()

    try:
        asyncio.run(scenario())
        received = [n.payload for n in listener.notifies(timeout=2.0, stop_after=1)]
        assert received == ["a\nb\nc"]  # one notification: Coordination.listen splits it
    finally:
        listener.close()
        store.close()


def changes_counter(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as other:
        return int(other.execute("SELECT n FROM changes").fetchone()[0])


def test_a_batch_that_only_read_leaves_no_trace() -> None:
    """No counter moved, no change log entry: other servers keep their caches."""
    dsn = postgres.fresh_database()
    store = open_store(dsn)
    try:
        put(store, "a")
        before = changes_counter(dsn)
        with store.transaction():
            assert store.get_cluster("a") is not None
        assert changes_counter(dsn) == before
        put(store, "b")
        assert changes_counter(dsn) == before + 1
    finally:
        store.close()


def test_a_server_waits_for_its_turn_off_the_loop() -> None:
    """While another server holds the writers' turn, a request waits for it in
    `settled()` without stopping the event loop, then its transaction runs in
    the batch opened for it; writers still take turns."""
    import threading
    import time

    dsn = postgres.fresh_database()
    other, store = open_store(dsn), open_store(dsn)
    order: list[str] = []

    def hold_turn(entered: threading.Event) -> None:
        with other.transaction():
            other.put_cluster(cluster("other"))
            entered.set()
            time.sleep(0.6)
            order.append("other commits")

    async def scenario() -> None:
        for round_ in range(2):  # the first wait (on the loop) tells the store that servers contend
            entered = threading.Event()
            holder = threading.Thread(target=hold_turn, args=(entered,))
            holder.start()
            assert entered.wait(10)
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.02)
                    ticks += 1

            ticker = asyncio.ensure_future(tick())
            await asyncio.sleep(0)
            await store.settled()
            with store.transaction():
                order.append("store writes")
                store.put_cluster(cluster(f"mine{round_}"))
            await store.durable()
            ticker.cancel()
            holder.join()
            if round_ == 1:
                assert ticks >= 10  # the loop ran while the turn was awaited
        assert order == ["other commits", "store writes"] * 2

    try:
        asyncio.run(scenario())
        assert committed_names(dsn) == {"other", "mine0", "mine1"}
    finally:
        other.close()
        store.close()
