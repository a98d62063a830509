"""The PostgreSQL connection and its unit of work: transactions, durability,
and the generation that tells caches above when another server has written.
Nothing here knows a table (the repositories, one mixin per aggregate beside
this module, use the connection through `self._db`).

Every transaction COMMITs (synchronous_commit as the server has it, on by
default) before `transaction()` returns, so `durable()` has nothing left to
wait for.  Each transaction starts by bumping the one `changes` row: that row
lock makes writers take turns, as SQLite's `BEGIN IMMEDIATE` does, so a
transaction that reads an instance's free capacity (through the scheduler's
cache, checked against `generation()` at the start) and then books it cannot
interleave with another server's placement.  The counter it bumps is how a
server learns that another one has committed.  (One writer at a time is the
first slice's choice; finer row locks come with several servers.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ...domain.documents import Doc
from ..interface import NotLeader, StoreError, StoreUnavailable
from .migrations import migrate

dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


class PostgresDatabase:
    """The unit of work over one connection (see `store.interface.UnitOfWork`)."""

    def __init__(self, dsn: str) -> None:
        try:
            conn = connect(dsn)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())  # one line
            raise StoreError(f"cannot open the database {public(dsn)}: {reason}") from exc
        self._db = _Connection(dsn, conn, self._forget)
        try:
            self._version = migrate(conn, public(dsn))
        except BaseException:
            conn.close()
            raise
        self._in_tx = False
        self._seen = -1  # the `changes` counter when we last looked
        self._generation = 0
        self._fence: int | None = None  # the leader's token its transactions check (see `fenced`)

    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        self._db.close()

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
        when the open transaction commits (never if it rolls back), at once
        outside one."""
        self._db.execute("SELECT pg_notify(?, ?)", (CHANNEL, payload))

    # what was read may be stale -----------------------------------------------

    def generation(self) -> int:
        """Changes when another connection has committed since we looked (the
        `changes` counter moved) or a transaction was rolled back.  Inside a
        transaction nobody else can commit a write (they wait for the
        `changes` row), so it is checked only when the transaction begins."""
        if not self._in_tx:
            row = self._db.execute("SELECT n FROM changes WHERE id = 1").fetchone()
            self._observe(int(row[0]))
        return self._generation

    def _observe(self, counter: int) -> None:
        if counter != self._seen:
            self._seen = counter
            self._forget()

    def _forget(self) -> None:
        """What this process read may be untrue: the caches above drop it."""
        self._generation += 1

    # transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of change, committed when it ends; nested uses join
        the outer one; an error rolls all of it back (and changes the generation).

        Inside `fenced(token)` it first takes a share lock on the leader lease
        and checks that the lease still carries `token` and has not expired:
        a server that lost the lease (its renewals failed, another took over)
        writes nothing, and no server can take the lease over until this
        transaction has ended (the lease row stays locked until COMMIT)."""
        if self._in_tx:
            yield
            return
        self._in_tx = True
        try:
            conn = self._db.live()
            with conn.transaction():
                row = self._db.execute("UPDATE changes SET n = n + 1 WHERE id = 1 RETURNING n").fetchone()
                counter = int(row[0])
                self._observe(counter - 1)  # someone else committed since we looked: forget
                self._seen = counter  # our own change is no news to us
                if self._fence is not None:
                    self._check_fence(self._fence)
                yield
        except psycopg.Error as exc:
            self._forget()
            failure = self._db.translated(exc)
            if failure is exc:
                raise
            raise failure from exc
        except BaseException:
            self._forget()
            raise
        finally:
            self._in_tx = False

    def _check_fence(self, token: int) -> None:
        held = self._db.execute(
            "SELECT 1 FROM leader_lease WHERE id = 1 AND token = ? AND expires_at > now() FOR SHARE", (token,)
        ).fetchone()
        if held is None:
            raise NotLeader(f"the leader lease no longer carries token {token}: this server does not lead")

    def commit(self) -> None:
        """Nothing to do: each transaction has committed when it ended."""

    async def settled(self) -> None:
        """No COMMIT is ever in flight in the background here."""

    async def durable(self) -> None:
        """Every transaction has committed by the time it returns."""

    async def wait_unlocked(self, timeout: float) -> None:
        """Never asked: PostgreSQL's writers queue on row locks, never StoreBusy."""

    # helpers for the repositories ---------------------------------------------

    def _docs(self, sql: str, args: Iterable[Any] = ()) -> list[Doc]:
        return [json.loads(row[0]) for row in self._db.execute(sql, tuple(args))]

    def _doc(self, sql: str, args: Iterable[Any] = ()) -> Doc | None:
        row = self._db.execute(sql, tuple(args)).fetchone()
        return json.loads(row[0]) if row else None

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

# Fail fast rather than hang when the database goes away: connecting gives up
# after CONNECT_TIMEOUT_S; TCP keepalives and tcp_user_timeout notice a
# database host that vanished; a lock held by a server that froze mid-transaction
# is given up after lock_timeout (the call fails, it does not hang the loop),
# and such a server's session is ended by idle_in_transaction_session_timeout.
CONNECT_TIMEOUT_S = 3
_OPTIONS = "-c lock_timeout=5000 -c statement_timeout=30000 -c idle_in_transaction_session_timeout=10000"


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A new autocommit connection with Portside's timeouts."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, keepalives=1,
                           keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                           tcp_user_timeout=5000, options=_OPTIONS)


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


class _Connection:
    """The connection as the repositories use it: `?` placeholders, as SQLite's.
    A connection the database dropped is replaced on the next use (so service
    resumes by itself when the database is back); while it cannot be, every
    use fails at once with StoreUnavailable.  `reconnected` is told each time:
    what was read before may be stale."""

    def __init__(self, dsn: str, conn: psycopg.Connection[Any], reconnected: Callable[[], None]) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = conn
        self._reconnected = reconnected

    def live(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.broken and not conn.closed:
            return conn
        if conn is not None:
            conn.close()
        self._conn = None
        try:
            self._conn = connect(self._dsn)
        except psycopg.Error as exc:
            raise StoreUnavailable(" ".join(str(exc).split())[:200] or type(exc).__name__) from exc
        self._reconnected()
        return self._conn

    def translated(self, exc: psycopg.Error) -> Exception:
        """StoreUnavailable for a database out of reach, else the error itself."""
        if isinstance(exc, psycopg.Error) and unreachable(exc, self._conn):
            return StoreUnavailable(" ".join(str(exc).split())[:200] or type(exc).__name__)
        return exc

    def execute(self, sql: str, args: Any = ()) -> Any:  # a psycopg cursor (rows as tuples)
        conn = self.live()
        try:
            return conn.execute(pyformat(sql), args)
        except psycopg.Error as exc:
            failure = self.translated(exc)
            if failure is exc:
                raise
            raise failure from exc

    def executemany(self, sql: str, rows: Iterable[Any]) -> None:
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
        if self._conn is not None:
            self._conn.close()
