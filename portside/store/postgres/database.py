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

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ...domain.documents import Doc
from ..interface import StoreError
from .migrations import migrate

dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


class PostgresDatabase:
    """The unit of work over one connection (see `store.interface.UnitOfWork`)."""

    def __init__(self, dsn: str) -> None:
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())  # one line
            raise StoreError(f"cannot open the database {_public(dsn)}: {reason}") from exc
        self._db = _Connection(self._conn)
        try:
            self._version = migrate(self._conn, _public(dsn))
        except BaseException:
            self._conn.close()
            raise
        self._in_tx = False
        self._seen = -1  # the `changes` counter when we last looked
        self._generation = 0

    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        self._conn.close()

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
        the outer one; an error rolls all of it back (and changes the generation)."""
        if self._in_tx:
            yield
            return
        self._in_tx = True
        try:
            with self._conn.transaction():
                row = self._db.execute("UPDATE changes SET n = n + 1 WHERE id = 1 RETURNING n").fetchone()
                counter = int(row[0])
                self._observe(counter - 1)  # someone else committed since we looked: forget
                self._seen = counter  # our own change is no news to us
                yield
        except BaseException:
            self._forget()
            raise
        finally:
            self._in_tx = False

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
            f"SELECT COUNT(*) FROM {table} WHERE cluster_arn = %s AND status = ANY(%s)",
            (cluster_arn, list(statuses)),
        ).fetchone()
        return int(row[0])

    def _page_by_seq(
        self, table: str, cluster_arn: str, where: list[str], filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """(seq, ARN) of a cluster's rows past `after_seq` matching column filters
        (column names come from the handlers, never from the request)."""
        clauses = ["cluster_arn = %s", *where, *(f"{column} = %s" for column in filters)]
        rows = self._db.execute(
            f"SELECT seq, arn FROM {table} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT %s",
            (cluster_arn, after_seq, *filters.values(), limit if limit >= 0 else None),
        )
        return [(int(seq), arn) for seq, arn in rows.fetchall()]


def _public(dsn: str) -> str:
    """The DSN without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())


class _Connection:
    """The connection as the repositories use it (psycopg's `%s` parameters)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Any = ()) -> Any:  # a psycopg cursor (rows as tuples)
        return self._conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Any]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql, list(rows))
