"""Group commit: what a request wrote is on disk (seen by another connection)
once `durable()` returns; a big batch is committed on a background thread and
work that starts while that COMMIT is in flight waits for it instead of
interleaving; a small batch is committed on the loop thread."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from portside.server.runner import encode_task
from portside.store.failures import StoreWriteFailed
from portside.store.sqlite import BACKGROUND_COMMIT_ROWS, SqliteStore


def cluster(name: str) -> dict:
    arn = f"arn:aws:ecs:us-east-1:123456789012:cluster/{name}"
    return {"clusterName": name, "clusterArn": arn, "status": "ACTIVE"}


def committed_names(path: Path) -> set[str]:
    other = sqlite3.connect(path)
    try:
        return {row[0] for row in other.execute("SELECT name FROM clusters")}
    finally:
        other.close()


def big_request(store: SqliteStore, name: str) -> None:
    """One request's transaction, changing enough rows for a background COMMIT."""
    with store.transaction():
        for i in range(BACKGROUND_COMMIT_ROWS):
            store.put_cluster(cluster(f"{name}{i}" if i else name))


def test_a_big_batch_commits_in_background_a_small_one_on_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, encode_task=encode_task)

    async def scenario() -> None:
        big_request(store, "big")
        await asyncio.sleep(0)  # the scheduled commit runs before this resumes
        assert store._committing is not None  # handed to the committer thread
        await store.durable()
        assert "big" in committed_names(path)
        with store.transaction():
            store.put_cluster(cluster("small"))
        await asyncio.sleep(0)
        assert store._committing is None and store._batch is None  # committed right there
        assert "small" in committed_names(path)
        await store.durable()

    asyncio.run(scenario())
    store.close()


def test_batches_commit_in_background_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, encode_task=encode_task)

    async def request(name: str) -> None:
        big_request(store, name)
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
    assert {"a", "b", "c", "d"} <= committed_names(path)
    store.close()


def test_a_failed_request_undoes_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, encode_task=encode_task)

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
    store = SqliteStore(path, encode_task=encode_task)
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


@pytest.mark.parametrize("rows", [1, BACKGROUND_COMMIT_ROWS], ids=["on the loop", "in background"])
def test_a_failed_commit_fails_its_requests_and_rolls_back(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, encode_task=encode_task)
    store._conn = _FailingCommit(store._conn)  # type: ignore[assignment]
    store._db._conn = store._conn  # type: ignore[attr-defined]

    async def scenario() -> None:
        with store.transaction():
            for i in range(rows):
                store.put_cluster(cluster(f"lost{i}" if i else "lost"))
        try:
            await store.durable()
        except StoreWriteFailed as failed:  # the disk-full error, named (store/failures.py)
            assert failed.cause == "database or disk is full"
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
