"""Group commit with the COMMIT on a background thread: what a request wrote
is on disk (seen by another connection) once `durable()` returns, and work
that starts while a COMMIT is in flight waits for it instead of interleaving."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from portside.store.sqlite import SqliteStore


def cluster(name: str) -> dict:
    arn = f"arn:aws:ecs:us-east-1:123456789012:cluster/{name}"
    return {"clusterName": name, "clusterArn": arn, "status": "ACTIVE"}


def committed_names(path: Path) -> set[str]:
    other = sqlite3.connect(path)
    try:
        return {row[0] for row in other.execute("SELECT name FROM clusters")}
    finally:
        other.close()


def test_batches_commit_in_background_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)

    async def request(name: str) -> None:
        with store.transaction():
            store.put_cluster(cluster(name))
        await store.durable()
        assert name in committed_names(path)

    async def scenario() -> None:
        # one loop iteration: both share a batch
        await asyncio.gather(request("a"), request("b"))
        # the next request starts while the first batch may still be committing
        first = asyncio.ensure_future(request("c"))
        await asyncio.sleep(0)
        await store.settled()
        with store.transaction():  # waits for any COMMIT in flight, then a new batch
            store.put_cluster(cluster("d"))
        await store.durable()
        await first
        assert store._committing is None

    asyncio.run(scenario())
    assert committed_names(path) == {"a", "b", "c", "d"}
    store.close()


def test_a_failed_request_undoes_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)

    async def scenario() -> None:
        with store.transaction():
            store.put_cluster(cluster("kept"))
        try:
            with store.transaction():
                store.put_cluster(cluster("undone"))
                raise RuntimeError("the handler failed")
        except RuntimeError:
            pass
        await store.durable()

    asyncio.run(scenario())
    assert committed_names(path) == {"kept"}
    store.close()


def test_without_a_loop_every_transaction_commits_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    with store.transaction():
        store.put_cluster(cluster("now"))
    assert committed_names(path) == {"now"}
    store.close()


class _FailingCommit:
    """The store's connection, except that the next COMMIT fails (as a full
    disk would make it fail)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.fail_next = True

    def execute(self, sql: str, *args):
        if sql == "COMMIT" and self.fail_next:
            self.fail_next = False
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_a_failed_background_commit_fails_its_requests_and_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    store._conn = _FailingCommit(store._conn)  # type: ignore[assignment]
    store._db._conn = store._conn  # type: ignore[attr-defined]

    async def scenario() -> None:
        with store.transaction():
            store.put_cluster(cluster("lost"))
        try:
            await store.durable()
        except sqlite3.OperationalError:
            pass
        else:
            raise AssertionError("durable() returned although the COMMIT failed")
        await store.settled()
        with store.transaction():
            store.put_cluster(cluster("kept"))
        await store.durable()

    asyncio.run(scenario())
    assert committed_names(path) == {"kept"}
    assert store.get_cluster("lost") is None
    store.close()
