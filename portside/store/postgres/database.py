"""The PostgreSQL request connection (drawn from the process's pool, pool.py)
and its unit of work: transactions, group commit, durability, and the
generation that tells caches above when another server has written.  Nothing
here knows a table (the repositories, one mixin per aggregate beside this
module, use the connection through `self._db`).

Group commit, as SQLite's (`store/sqlite/database.py`): under a running event
loop, the transactions of the requests handled in one loop iteration share one
database transaction, each after the first in a savepoint of its own (so a
failing request undoes only its own changes), and one COMMIT, sent as soon as
the loop is free on a thread of its own, so the loop reads and checks the next
requests while PostgreSQL writes and syncs.  A request is answered only after
`durable()`: nothing is acknowledged before its COMMIT has returned; when a
COMMIT fails, every request of its batch gets the error.  Without a running
loop every transaction commits when it ends.

Round trips are what PostgreSQL costs (the loop waits for each one), so a
batch begins in one (`BEGIN` and the bump of the `changes` row, one simple
query) and ends in one (the batch's notices and `COMMIT`).

Each batch starts by taking the writers' turn (a transaction-scoped advisory
lock): writers take turns, as SQLite's `BEGIN IMMEDIATE` makes them, so a
transaction that reads an instance's free capacity (through the scheduler's
cache, checked against `generation()` at the start) and then books it cannot
interleave with another server's placement.  A batch that wrote sets the one
`changes` counter to its number as it commits and adds an entry to the change
log naming the container instances it changed: that is how another server
learns that something changed, and what (its placement cache reloads only
those instances; a write to clusters or task definitions makes it drop all).
While several servers contend for the turn, a request waits for it off the
event loop (`settled`), so a server waiting for its turn goes on reading
requests, which then share the batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from ...domain.documents import Doc
from ...metrics import observe_commit
from ..database_base import DatabaseBase, answer_requests
from ..interface import NotLeader, StoreError, StoreUnavailable
from .migrations import migrate
from .pool import Connections, PoolStats, connect, unavailable

dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call

# Tables cached above by `generation` alone: a batch that writes one makes other
# servers drop all they cached (it is rare: CreateCluster, RegisterTaskDefinition...).
WHOLESALE = frozenset({"clusters", "task_definitions"})
_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE)
# The change log keeps the entries of the last LOG_KEPT batches (pruned every LOG_PRUNE_EVERY):
# a server that has not looked for longer drops all it cached.
LOG_KEPT = 4096
LOG_PRUNE_EVERY = 256

# The writers' turn: a transaction-scoped advisory lock (no row written, so a
# batch that only read commits without a WAL flush).
TURN = 0x706F72747475726E  # "portturn"
# While servers have contended for the turn this recently, a request waits for
# it off the event loop (`settled`), not on it.
CONTENDED_S = 2.0

# PostgreSQL refuses a notice payload of 8000 bytes or more: a batch's notices
# (joined by newlines, split again by `Coordination.listen`) go in chunks under it.
NOTICE_CHUNK = 7000


@dataclass
class _Batch:
    """The transactions waiting for one COMMIT."""

    counter: int  # the `changes` counter it sets when it commits, if it wrote: its entry in the change log
    requests: int = 0  # transactions that joined it
    wrote: bool = False  # it ran an INSERT, UPDATE or DELETE (else its COMMIT leaves no trace)
    instances: set[str] = field(default_factory=set)  # container instances it changed (`instance_changed`)
    # (instance ARN, reservation JSON, group) → tasks placed (negative: stopped) (`holding_changed`)
    holds: dict[tuple[str, str, str], int] = field(default_factory=dict)
    everything: bool = False  # it wrote what is cached by generation alone (clusters, task definitions)
    notices: list[str] = field(default_factory=list)  # sent with its COMMIT
    done: asyncio.Future[None] | None = None  # on the loop, once its COMMIT is scheduled: the requests await it
    commit: concurrent.futures.Future[None] | None = None  # the background COMMIT
    finished: bool = False


class PostgresDatabase(DatabaseBase):
    """The unit of work over one connection (see `store.interface.UnitOfWork`).

    The repositories use the connection only through `self._db`, which waits
    for a background COMMIT first, so the connection is never used by two
    threads at once."""

    def __init__(self, dsn: str) -> None:
        try:
            conn = connect(dsn)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())  # one line
            raise StoreError(f"cannot open the database {public(dsn)}: {reason}") from exc
        try:
            self._version = migrate(conn, public(dsn))
        finally:
            conn.close()
        self.connections = Connections(dsn)  # the process's pool (Coordination borrows from it too)
        self._db = _Connection(self.connections, self._forget, self._settle, self._wrote)
        self._committer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portside-commit")
        self._batch: _Batch | None = None  # the open database transaction
        self._committing: _Batch | None = None  # the batch whose COMMIT is in flight
        self._in_tx = False
        self._seen = -1  # the `changes` counter when we last looked
        self._others_changed: set[str] = set()  # instances other servers changed (`changed_instances`)
        self._others_held: list[tuple[str, Doc, str, int]] = []  # what they placed and stopped (`changed_holdings`)
        self._generation = 0
        self._fence: int | None = None  # the leader's token its transactions check (see `fenced`)
        self._opening: concurrent.futures.Future[None] | None = None  # a batch opened off the loop
        self._contended_at = -CONTENDED_S  # when another server last had the turn we wanted

    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._committer.shutdown()
            self._db.close()
            self.connections.close()

    def pool_stats(self) -> PoolStats:
        """The connection pool's figures, for `/metrics`."""
        return self.connections.stats()

    @contextmanager
    def fenced(self, token: int | None) -> Iterator[None]:
        """Transactions opened inside check the leader lease (see `transaction`)."""
        outer, self._fence = self._fence, token
        try:
            yield
        finally:
            self._fence = outer

    def announce(self, payload: str) -> None:
        """A notice to every server listening (`Coordination.listen`): sent
        with the COMMIT of the open batch (never if the transaction that
        announced it rolls back), at once outside one."""
        if self._batch is not None:
            self._batch.notices.append(payload)
            return
        self._db.execute("SELECT pg_notify(?, ?)", (CHANNEL, payload))

    # what was read may be stale -----------------------------------------------

    def generation(self) -> int:
        """Changes when another server has committed something other than
        changes to container instances (the `changes` counter moved, and the
        change log says so, or cannot say) or a transaction was rolled back.
        While a batch is open nobody else can commit a write (they wait for
        the `changes` row), so it is checked only outside one."""
        if not self._in_tx and self._batch is None:
            cursor = self._db.run("SELECT n FROM changes WHERE id = 1" + self._log_query())
            counter = int(cursor.fetchone()[0])
            self._catch_up(counter, cursor.fetchall() if cursor.nextset() else [])
        return self._generation

    def instance_changed(self, arn: str) -> None:
        if self._batch is not None:
            self._batch.instances.add(arn)

    def holding_changed(self, instance_arn: str, reservation: Doc, group: str, times: int) -> None:
        if self._batch is not None:
            key = (instance_arn, dump(reservation), group)
            self._batch.holds[key] = self._batch.holds.get(key, 0) + times

    def changed_holdings(self) -> list[tuple[str, Doc, str, int]]:
        held, self._others_held = self._others_held, []
        return held

    def changed_instances(self) -> set[str]:
        changed, self._others_changed = self._others_changed, set()
        return changed

    def _log_query(self) -> str:
        """The change log's entries since we looked (a second statement of the
        same round trip), or nothing when we never looked."""
        if self._seen < 0:
            return ""
        return f"; SELECT n, instances, everything, holdings FROM change_log WHERE n > {int(self._seen)} ORDER BY n"

    def _catch_up(self, counter: int, log: list[tuple[int, str, bool, str]]) -> None:
        """Other servers' batches up to `counter` have committed: when the log
        has each of their entries and none changed more than container
        instances, note those instances for the placement cache; else forget
        all that was read."""
        if counter == self._seen:
            return
        entries = [entry for entry in log if entry[0] <= counter]
        if self._seen < 0 or len(entries) != counter - self._seen or any(entry[2] for entry in entries):
            self._forget()
        else:
            for _, instances, _, holdings in entries:
                if instances:
                    self._others_changed.update(instances.split("\n"))
                for arn, reservation, group, times in json.loads(holdings or "[]"):
                    self._others_held.append((arn, json.loads(reservation), group, times))
        self._seen = counter

    def _wrote(self, statement: str) -> None:
        """Every write statement: one to a table cached by generation alone
        makes the batch's change log entry say `everything`."""
        if self._batch is not None:
            self._batch.wrote = True
        if self._batch is not None and not self._batch.everything:
            match = _WRITE.match(statement)
            if match and match.group(1).lower() in WHOLESALE:
                self._batch.everything = True

    def _forget(self) -> None:
        """What this process read may be untrue: the caches above drop it."""
        self._generation += 1
        self._others_changed.clear()  # dropped with the rest
        self._others_held.clear()

    # transactions and group commit ---------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of change; nested uses join the outer one; an error
        rolls its changes back (and changes the generation).  See the module's
        docstring for how transactions share a COMMIT.

        Inside `fenced(token)` it first takes a share lock on the leader lease
        and checks that the lease still carries `token` and has not expired:
        a server that lost the lease (its renewals failed, another took over)
        writes nothing, and no server can take the lease over until this
        transaction has committed (the lease row stays locked until COMMIT)."""
        if self._in_tx:
            yield
            return
        self._settle()
        first = self._batch is None
        try:
            if first:
                self._begin(wait=True)
            else:
                self._db.execute("SAVEPOINT request")
        except psycopg.Error as exc:
            self._lost(exc)
        batch = self._batch
        assert batch is not None
        batch.requests += 1
        notices = len(batch.notices)
        self._in_tx = True
        try:
            if self._fence is not None:
                self._check_fence(self._fence)
            yield
        except BaseException as exc:
            del batch.notices[notices:]
            self._forget()
            conn = self._db.current()
            if first:  # nothing else in the batch: roll all of it back
                self._batch = None
                self._db.pinned = False
            if conn is None or conn.broken or conn.closed:  # the connection is gone: so is the batch
                self._abandon(StoreUnavailable("the connection to the database was lost"))
            else:
                try:
                    conn.execute("ROLLBACK" if first else "ROLLBACK TO SAVEPOINT request")
                except psycopg.Error as undo:
                    self._abandon(undo)
            if isinstance(exc, psycopg.Error):
                failure = self._db.translated(exc)
                if failure is not exc:
                    raise failure from exc
            raise
        finally:
            self._in_tx = False
            self._schedule_commit()

    def _begin(self, wait: bool) -> bool:
        """BEGIN and take the writers' turn (an advisory lock, held until the
        batch ends), in one round trip when no other server has it; when one
        has, note that servers contend (`settled` then waits for the turn off
        the loop) and wait for it, or (not `wait`) give up: False.  Runs on the
        loop or on the committer thread, never both at once."""
        conn = self._db.live_now()
        log = self._log_query()
        cursor = conn.execute(f"BEGIN; SELECT pg_try_advisory_xact_lock({TURN}); SELECT n FROM changes WHERE id = 1"
                              + log)
        cursor.nextset()
        got = cursor.fetchone()
        if not (got and got[0]):
            self._contended_at = time.monotonic()
            if not wait:
                conn.execute("ROLLBACK")
                return False
            cursor = conn.execute(f"SELECT pg_advisory_xact_lock({TURN}); SELECT n FROM changes WHERE id = 1" + log)
        cursor.nextset()
        row = cursor.fetchone()
        assert row is not None
        counter = int(row[0])
        # Every batch that took the turn before us has committed: what they
        # changed is in the log, read in the same round trip.
        self._catch_up(counter, cursor.fetchall() if cursor.nextset() else [])
        self._batch = _Batch(counter + 1)
        self._db.pinned = True
        return True

    def _contended(self) -> bool:
        """Whether another server has recently held the writers' turn when we wanted it."""
        return time.monotonic() - self._contended_at < CONTENDED_S

    def _open_ahead(self) -> None:
        """On the committer thread: open a batch, waiting for the turn."""
        try:
            self._begin(wait=True)
        except BaseException:
            self._batch = None
            self._db.pinned = False
            self._reset()
            raise

    def _lost(self, exc: psycopg.Error) -> None:
        """Beginning the transaction or its savepoint failed: the batch is gone."""
        self._abandon(exc)
        failure = self._db.translated(exc)
        if failure is exc:
            raise exc
        raise failure from exc

    def _abandon(self, error: BaseException) -> None:
        """The open batch cannot be committed (its connection failed): roll it
        back if the connection still works, and fail the requests waiting for it."""
        batch, self._batch = self._batch, None
        self._db.pinned = False
        self._forget()
        self._reset()
        if batch is not None:
            if isinstance(error, psycopg.Error):
                error = self._db.translated(error)
            self._answer(batch, error)

    def _reset(self) -> None:
        """Leave no transaction open on a connection that still works."""
        conn = self._db.current()
        if conn is not None and not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass

    def _check_fence(self, token: int) -> None:
        held = self._db.execute(
            "SELECT 1 FROM leader_lease WHERE id = 1 AND token = ? AND expires_at > now() FOR SHARE", (token,)
        ).fetchone()
        if held is None:
            raise NotLeader(f"the leader lease no longer carries token {token}: this server does not lead")

    def _commit_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """COMMIT the open batch on the committer thread; meanwhile any use of
        the connection waits for it (`_settle`), and requests wait in `settled()`."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        statement = self._commit_statement(batch)
        self._committing = batch
        batch.commit = self._committer.submit(self._timed_commit, statement, batch.requests)
        batch.commit.add_done_callback(lambda _: loop.call_soon_threadsafe(self._committed, batch))

    def _commit_statement(self, batch: _Batch) -> str:
        """The batch's change log entry, its notices (deduplicated, in chunks)
        and its COMMIT, one simple query."""
        conn = self._db.live()
        parts = []
        chunk: list[str] = []
        size = 0
        for notice in dict.fromkeys(batch.notices):
            if chunk and size + len(notice) + 1 > NOTICE_CHUNK:
                parts.append(chunk)
                chunk, size = [], 0
            chunk.append(notice)
            size += len(notice) + 1
        if chunk:
            parts.append(chunk)
        notify = [pgsql.SQL("SELECT pg_notify({}, {}); ").format(CHANNEL, "\n".join(p)).as_string(conn)
                  for p in parts]
        log = ""
        if batch.wrote or batch.instances or batch.holds:  # others learn of it: the counter moves, the log says what
            holds = [[arn, reservation, group, times] for (arn, reservation, group), times in batch.holds.items()
                     if times]
            log = pgsql.SQL("UPDATE changes SET n = {n} WHERE id = 1; INSERT INTO change_log "
                            "(n, instances, everything, holdings) VALUES ({n}, {instances}, {everything}, {holds}); "
                            ).format(n=batch.counter, instances="\n".join(sorted(batch.instances)),
                                     everything=batch.everything, holds=dump(holds) if holds else "").as_string(conn)
            if batch.counter % LOG_PRUNE_EVERY == 0:
                log += f"DELETE FROM change_log WHERE n <= {batch.counter - LOG_KEPT}; "
            self._seen = batch.counter  # our own change is no news to us (-1 again if the COMMIT fails)
        return log + "".join(notify) + "COMMIT"

    def _timed_commit(self, statement: str, requests: int) -> None:
        """COMMIT (PostgreSQL's sync is in it), counted in the commit metrics."""
        started = time.perf_counter()
        conn = self._db.live_now()  # never a new one: the batch is pinned to its connection
        try:
            conn.execute(statement)  # no parameters: the simple protocol, several statements
        except psycopg.Error as exc:
            failure = self._db.translated(exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            self._db.pinned = False
        observe_commit(requests, time.perf_counter() - started)

    def _settle(self) -> None:
        """Wait (blocking) for a COMMIT, or a batch opening, in flight to end, and account for it."""
        if self._opening is not None:
            concurrent.futures.wait([self._opening])
        batch = self._committing
        if batch is not None and batch.commit is not None:
            concurrent.futures.wait([batch.commit])
            self._committed(batch)

    def _committed(self, batch: _Batch) -> None:
        """A background COMMIT has ended: answer its requests (or fail them).
        Runs once per batch, whichever of the loop callback and `_settle` comes first."""
        if batch.finished:
            return
        batch.finished = True
        if self._committing is batch:
            self._committing = None
        assert batch.commit is not None
        error = batch.commit.exception()
        if error is not None:
            self._seen = -1  # the counter we meant to set may be set by another server: look again
            self._forget()
            self._reset()
        self._answer(batch, error)

    @staticmethod
    def _answer(batch: _Batch, error: BaseException | None) -> None:
        batch.finished = True
        answer_requests(batch.done, error)

    def commit(self) -> None:
        """Make the open batch durable now, on this thread."""
        self._settle()
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            self._timed_commit(self._commit_statement(batch), batch.requests)
        except (psycopg.Error, StoreUnavailable) as exc:
            self._seen = -1  # the counter we meant to set may be set by another server: look again
            self._forget()
            self._reset()
            self._answer(batch, exc)
            if batch.done is None:  # no request waits for it: the caller gets the error
                raise
            return
        self._answer(batch, None)

    async def settled(self) -> None:
        """Return once no COMMIT is in flight: a request about to use the
        store waits here instead of blocking the loop in `_settle`.  While
        servers contend for the writers' turn, it also opens the batch the
        request will join, waiting for the turn on the committer thread: the
        loop goes on reading requests meanwhile, and they join that batch."""
        while self._committing is not None or self._opening is not None:
            if self._committing is not None:
                done = self._committing.done
                assert done is not None
                waited: asyncio.Future[None] = asyncio.shield(done)
            else:
                assert self._opening is not None
                waited = asyncio.shield(asyncio.wrap_future(self._opening))
            try:
                await waited
            except Exception:
                pass  # the requests of that batch get the error; this one may go on
        if self._batch is None and not self._in_tx and self._contended():
            self._opening = self._committer.submit(self._open_ahead)
            try:
                await asyncio.shield(asyncio.wrap_future(self._opening))
            except Exception:
                pass  # this request's own transaction tries again, and gets the error
            finally:
                self._opening = None
            self._schedule_commit()  # whoever joins it, it commits

    async def wait_unlocked(self, timeout: float) -> None:
        """Never asked: PostgreSQL's writers queue on row locks, never StoreBusy."""

    # helpers for the repositories ---------------------------------------------

    def _count(self, table: str, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        """Rows of a cluster in these statuses (`table` comes from the store, never a request)."""
        row = self._db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE cluster_arn = ? AND status = ANY(?)",
            (cluster_arn, list(statuses)),
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
            (cluster_arn, after_seq, *filters.values(), limit if limit >= 0 else None),
        )
        return [(int(seq), arn) for seq, arn in rows.fetchall()]


CHANNEL = "portside"  # the LISTEN/NOTIFY channel every server listens on


def public(dsn: str) -> str:
    """The DSN without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())


def unreachable(exc: psycopg.Error, conn: psycopg.Connection[Any] | None) -> bool:
    """Whether the error means the database cannot be reached (rather than a
    bad statement): the connection broke, or the server is shutting down,
    starting, or refused the connection (SQLSTATE classes 08 and 57P)."""
    state = exc.sqlstate or ""
    return (conn is None or conn.broken or conn.closed or not state
            or state.startswith("08") or state.startswith("57P"))


@functools.lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """A statement written with SQLite's `?` placeholders in psycopg's `%s`
    style: the dialect seam that lets both backends share their SQL
    (store/records.py, store/sql/)."""
    return sql.replace("%", "%%").replace("?", "%s")


_WRITES = frozenset("IUDiud")  # the first letter of INSERT, UPDATE, DELETE


class _Connection:
    """The request connection as the repositories use it: `?` placeholders, as
    SQLite's.  Drawn from the pool (`Connections`) and held while it works:
    nothing is checked per batch (that would cost a round trip each).  One the
    database dropped is given back on the next use (the pool discards it and
    connects a replacement) and another is drawn, so service resumes by itself
    when the database is back; while none can be had, every use fails fast
    with StoreUnavailable.  `reconnected` is told of each connection drawn:
    what was read before may be stale."""

    def __init__(self, connections: Connections, reconnected: Callable[[], None],
                 settle: Callable[[], None], wrote: Callable[[str], None]) -> None:
        self._connections = connections
        self._conn: psycopg.Connection[Any] | None = None
        self._reconnected = reconnected
        self._settle = settle
        self._wrote = wrote  # told of each INSERT / UPDATE / DELETE
        # While a batch is open on it, a lost connection is not replaced: the
        # batch's statements must never go on, outside it, on a new one.
        self.pinned = False

    def current(self) -> psycopg.Connection[Any] | None:
        """The connection as it is (None, or broken, after the database dropped it)."""
        return self._conn

    def live(self) -> psycopg.Connection[Any]:
        """The connection, once no COMMIT is in flight on it; another if it was lost."""
        self._settle()
        return self.live_now()

    def live_now(self) -> psycopg.Connection[Any]:
        """The connection (another from the pool if it was lost), on the committer thread."""
        conn = self._conn
        if conn is not None and not conn.broken and not conn.closed:
            return conn
        if self.pinned:
            raise StoreUnavailable("the connection to the database was lost")
        self._give_back()
        self._conn = self._connections.draw()
        self._reconnected()
        return self._conn

    def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._connections.give_back(conn)

    def translated(self, exc: psycopg.Error) -> Exception:
        """StoreUnavailable for a database out of reach, else the error itself."""
        if isinstance(exc, psycopg.Error) and unreachable(exc, self._conn):
            return unavailable(exc)
        return exc

    def run(self, statements: str) -> Any:
        """Statements without parameters, in one round trip (the simple
        protocol); the cursor is on the first one's result (`nextset()`)."""
        conn = self.live()
        try:
            return conn.execute(statements)
        except psycopg.Error as exc:
            failure = self.translated(exc)
            if failure is exc:
                raise
            raise failure from exc

    def execute(self, sql: str, args: Any = ()) -> Any:  # a psycopg cursor (rows as tuples)
        if sql[:1] in _WRITES or sql[:1].isspace():
            self._wrote(sql)
        conn = self.live()
        try:
            return conn.execute(pyformat(sql), args)
        except psycopg.Error as exc:
            failure = self.translated(exc)
            if failure is exc:
                raise
            raise failure from exc

    def executemany(self, sql: str, rows: Iterable[Any]) -> None:
        if sql[:1] in _WRITES or sql[:1].isspace():
            self._wrote(sql)
        conn = self.live()
        try:
            with conn.cursor() as cursor:
                cursor.executemany(pyformat(sql), list(rows))
        except psycopg.Error as exc:
            failure = self.translated(exc)
            if failure is exc:
                raise
            raise failure from exc

    def close(self) -> None:
        self._give_back()
