"""The SQLite connection and its unit of work: transactions, group commit,
durability.  Nothing here knows a table.

SQLite in WAL mode with full fsync, so every change is on disk before the API
acknowledges it.  Writers take the database lock up front (`BEGIN
IMMEDIATE`), so a transaction that reads an instance's remaining resources and
then books them cannot interleave with another writer, in this process or any
other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...domain.documents import Doc
from ...metrics import observe_commit
from ..database_base import DatabaseBase, answer_requests
from ..failures import LOCK_WAIT_S, LOCKED, StoreBusy, StoreWriteFailed, WriteHealth, write_failure
from .migrations import migrate

# A batch that changed at least this many rows is committed on the committer
# thread; a smaller one on the loop thread (see `SqliteDatabase._commit_batch`).
BACKGROUND_COMMIT_ROWS = 16

dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


class SqliteDatabase(DatabaseBase):
    """The unit of work over one connection (see `store.interface.UnitOfWork`).

    The repositories (one mixin per aggregate, beside this module) use the
    connection only through `self._db`, which waits for a background COMMIT
    first, so the connection is never used by two threads at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db = _Guarded(self._conn, self._settle)
        self._committer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portside-commit")
        self._committing: _Batch | None = None
        self._path = path
        self._lock_waiter = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portside-lock-wait")
        self._unlocked: asyncio.Future[bool] | None = None  # the wait for another process's write lock
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_S * 1000)}")  # at start, nothing else to serve
        try:
            self._version = migrate(self._conn, str(path))
        except BaseException:
            self._committer.shutdown()
            self._lock_waiter.shutdown()
            self._conn.close()
            raise
        # From now on the loop thread never waits for a lock: see `_begin`.
        self._conn.execute("PRAGMA busy_timeout=0")
        # Every COMMIT is numbered (meta 'commits') and, once durable, its number is noted in the
        # server's `.running` marker: after a crash, a database holding an older number than the
        # marker lost acknowledged commits (a WAL cut on a frame boundary; store/integrity.py).
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()
        self._commits = int(row[0]) if row and str(row[0]).isdigit() else 0
        self._marker = path.with_name(path.name + ".running")
        self._marker_fd: int | None = None
        self._in_tx = False
        self._batch: _Batch | None = None
        self._data_version = -1
        self._generation = 0
        self.health = WriteHealth(str(path))  # whether writes succeed (GET /health)

    def schema_version(self) -> int:
        return self._version

    def pool_stats(self) -> None:
        """No pool: one connection to one file."""
        return None

    def instance_changed(self, arn: str) -> None:
        """One server per SQLite file: nobody else keeps a cache to tell."""

    def holding_changed(self, instance_arn: str, reservation: Doc, group: str, times: int) -> None:
        """One server per SQLite file: nobody else keeps a cache to tell."""

    def changed_holdings(self) -> list[tuple[str, Doc, str, int]]:
        return []

    def changed_instances(self) -> set[str]:
        """Another process writing the file moves `generation` (data_version) instead."""
        return set()

    def fenced(self, token: int | None) -> AbstractContextManager[None]:
        """One server per SQLite file: it always leads, nothing to check."""
        return nullcontext()

    def close(self) -> None:
        self.commit()
        self._committer.shutdown()
        self._lock_waiter.shutdown(wait=False, cancel_futures=True)
        self._conn.close()
        if self._marker_fd is not None:
            os.close(self._marker_fd)
            self._marker_fd = None

    # what was read may be stale -----------------------------------------------

    def generation(self) -> int:
        """Changes when another connection has committed since we looked
        (SQLite's `data_version`) or a transaction was rolled back.  Inside a
        write transaction nobody else can commit, so it is checked only when
        the batch begins."""
        if not self._in_tx:
            self._fresh()
        return self._generation

    def _fresh(self) -> None:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._forget()

    def _forget(self) -> None:
        """What this process read may be untrue: the caches above drop it."""
        self._generation += 1

    # transactions and group commit ---------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of change; nested uses join the outer one.

        Group commit: under a running event loop, the transactions of the
        requests handled in one loop iteration share one database transaction
        (each in a savepoint of its own, so a failing request undoes only its
        own changes) and one fsync, committed as soon as the loop is free.
        Callers make a change acknowledged only after `durable()`.  Without a
        running loop every transaction commits at once."""
        if self._in_tx:
            yield
            return
        if self._batch is None:
            self._begin()
            self._batch = _Batch(changes_before=self._conn.total_changes)
            self._fresh()
        self._db.execute("SAVEPOINT request")
        self._batch.requests += 1
        self._in_tx = True
        try:
            yield
        except BaseException as exc:
            if self._conn.in_transaction:
                self._db.execute("ROLLBACK TO request")
                self._db.execute("RELEASE request")
                self._forget()
            else:  # SQLite rolled the whole batch back itself (disk full, I/O error)
                batch, self._batch = self._batch, None
                self._forget()
                if batch is not None:
                    self._finish(batch, exc)
            failed = write_failure(exc)
            if failed is not None:
                self.health.failed(failed)
                raise failed from exc
            raise
        else:
            self._db.execute("RELEASE request")
        finally:
            self._in_tx = False
            self._schedule_commit()

    def _begin(self) -> None:
        """Take the write lock (BEGIN IMMEDIATE) without waiting for it on the
        event loop: when another process holds it, StoreBusy (nothing was
        done; the caller waits with `wait_unlocked` and runs again).  A
        5 s lock held elsewhere used to freeze every request for 5 s
        (SQLite's busy_timeout, waited on the loop thread).  Without a running
        loop (tools, tests) it waits here as SQLite would."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                raise StoreBusy() from exc
        self._conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_S * 1000)}")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
            failure = StoreWriteFailed(LOCKED)
            self.health.failed(failure)
            raise failure from exc
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    async def wait_unlocked(self, timeout: float) -> None:
        """Wait, on a thread of its own and never on the loop, until no other
        process holds the write lock; StoreWriteFailed naming the lock (and
        the store unhealthy until a write succeeds) when it is still held
        after `timeout` seconds.  Waiters share one wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            if self._unlocked is None or self._unlocked.done():  # none under way, or one that gave up
                self._unlocked = asyncio.wrap_future(
                    self._lock_waiter.submit(_wait_for_write_lock, self._path, LOCK_WAIT_S), loop=loop)
            left = deadline - loop.time()
            try:
                if left > 0 and await asyncio.wait_for(asyncio.shield(self._unlocked), left):
                    return
            except TimeoutError:
                pass
            if loop.time() >= deadline:
                failure = StoreWriteFailed(LOCKED)
                self.health.failed(failure)
                raise failure

    def _commit_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """COMMIT the open batch: a small one right here, a big one on the
        committer thread.  A COMMIT that writes a handful of rows (a StopTask,
        an agent's report, one RunTask) costs less than handing it to a thread
        and back on a busy machine; one that writes many (the new tasks of
        several RunTask calls) is worth overlapping: while SQLite writes and
        fsyncs (the GIL released), the loop goes on reading and checking the
        next requests.  Any use of the connection meanwhile waits
        for that COMMIT to end (see `_Guarded`), so only one thread uses it
        at a time."""
        batch = self._batch
        if batch is None:
            return
        if self._conn.total_changes - batch.changes_before < BACKGROUND_COMMIT_ROWS:
            self.commit()
            return
        self._batch = None
        self._committing = batch
        self._number(batch)
        batch.commit = self._committer.submit(_timed_commit, self._conn, batch)
        batch.commit.add_done_callback(lambda _: loop.call_soon_threadsafe(self._committed, batch))

    def _settle(self) -> None:
        """Wait (blocking) for a COMMIT in flight to end, and account for it."""
        batch = self._committing
        if batch is not None and batch.commit is not None:
            concurrent.futures.wait([batch.commit])
            self._committed(batch)

    def _committed(self, batch: _Batch) -> None:
        """A background COMMIT has ended: answer its requests (or fail them,
        rolled back).  Runs once per batch, whichever of the loop callback
        and `_settle` comes first."""
        if batch.finished:
            return
        batch.finished = True
        self._committing = None
        assert batch.commit is not None
        self._finish(batch, batch.commit.exception())

    def _finish(self, batch: _Batch, error: BaseException | None) -> None:
        """Answer the batch's requests, or, when its COMMIT failed, roll back
        what it held and fail them."""
        if error is not None:
            self._conn.rollback()
            self._forget()
            failed = write_failure(error)
            if failed is not None:
                self.health.failed(failed)
                error = failed
        else:
            self.health.succeeded()
            self._note_commit(batch.sequence)
        answer_requests(batch.done, error)

    def commit(self) -> None:
        """Make the open batch durable now, on this thread (COMMIT with a full fsync)."""
        self._settle()
        batch, self._batch = self._batch, None
        if batch is None:
            return
        self._number(batch)
        try:
            _timed_commit(self._conn, batch)
        except sqlite3.Error as exc:
            self._finish(batch, exc)
            if batch.done is None:  # no request waits for it: the caller gets the error
                failed = write_failure(exc)
                if failed is None:
                    raise
                raise failed from exc
            return
        self._finish(batch, None)

    def _number(self, batch: _Batch) -> None:
        self._commits += 1
        batch.sequence = self._commits

    def _note_commit(self, sequence: int) -> None:
        """The marker a running server keeps (store/integrity.py) records the
        last durable commit.  No fsync: it must survive the process (a kill),
        not the machine; a stale number only weakens the check."""
        if not sequence:
            return
        if self._marker_fd is None:
            try:
                self._marker_fd = os.open(self._marker, os.O_WRONLY | os.O_CLOEXEC)
            except OSError:  # no server marks this file (a tool, a test): nothing to note
                return
        try:
            os.pwrite(self._marker_fd, f"{os.getpid()} {sequence}".ljust(40).encode() + b"\n", 0)
        except OSError:
            pass

    # helpers for the repositories ---------------------------------------------

    def _count(self, table: str, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        """Rows of a cluster in these statuses (`table` comes from the store, never a request)."""
        marks = ",".join("?" * len(statuses))
        row = self._db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE cluster_arn = ? AND status IN ({marks})",
            (cluster_arn, *statuses),
        ).fetchone()
        return int(row[0])

    def _page_by_seq(
        self, table: str, cluster_arn: str, where: list[str], filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """(seq, ARN) of a cluster's rows past `after_seq` matching column filters
        (column names come from the handlers, never from the request)."""
        clauses = ["cluster_arn = ?", *where, *(f"{column} = ?" for column in filters)]
        rows = self._db.execute(
            f"SELECT seq, arn FROM {table} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (cluster_arn, after_seq, *filters.values(), limit),
        )
        return rows.fetchall()


@dataclass
class _Batch:
    """The transactions waiting for one COMMIT."""

    changes_before: int  # the connection's total_changes when the batch began
    done: asyncio.Future[None] | None = None  # on the loop, once its COMMIT is scheduled: the requests await it
    commit: concurrent.futures.Future[Any] | None = None  # the background COMMIT
    finished: bool = False
    requests: int = 0  # transactions that joined it (for the batch size metric)
    sequence: int = 0  # its number among the database's commits (meta 'commits')


def _locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY: another connection holds the lock."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "database is locked" in str(exc)


def _wait_for_write_lock(path: Path, seconds: float) -> bool:
    """Block (on the lock-wait thread) until the write lock can be taken, and
    let it go at once; False when it could not be within `seconds`."""
    try:
        conn = sqlite3.connect(path, timeout=seconds, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _timed_commit(conn: sqlite3.Connection, batch: _Batch) -> None:
    """COMMIT (the fsync is in it), counted in the commit metrics."""
    started = time.perf_counter()
    if batch.sequence:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('commits', ?)", (str(batch.sequence),))
    conn.execute("COMMIT")
    observe_commit(batch.requests, time.perf_counter() - started)


class _Guarded:
    """The connection as the repositories use it: each call first waits
    for a background COMMIT to end, so the connection is never used by two
    threads at once."""

    def __init__(self, conn: sqlite3.Connection, settle: Callable[[], None]) -> None:
        self._conn = conn
        self._settle = settle

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        self._settle()
        return self._conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Any]) -> sqlite3.Cursor:
        self._settle()
        return self._conn.executemany(sql, rows)
