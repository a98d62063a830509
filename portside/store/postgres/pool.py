"""The server process's PostgreSQL connections: one `psycopg_pool.ConnectionPool`
lends the request connection (the unit of work, `database._Connection`) and a
connection to each call of `Coordination` (the lease, agents' polls).  The pool
discards a connection given back broken, or found broken when lent, and
connects its replacement; nothing here reconnects by hand.

Two things are set on the pool against its defaults, so that an outage fails
calls fast and service resumes by itself as soon as the database is back:

- *Reconnecting on demand, never on a timer.*  psycopg_pool retries a failed
  connect in the background with exponential backoff (1, 2, 4, 8... s, for
  `reconnect_timeout`, 5 min by default): after a 10 s outage its next attempt
  could come 6 s after the database returned, and after a minute's, 30 s.
  Here `reconnect_timeout` is 0: a failed connect is tried once more at once,
  then given up (the pool's size drops by one), and the next `draw` grows the
  pool again: a connect is attempted whenever a connection is wanted (the lease
  renewal wants one every `ttl / 5` seconds), and never waits for a backoff.
- *A wait that ends at the first failed connect.*  A client waiting in
  `getconn` is not told when the pool's connect fails: it waits for its whole
  timeout.  `draw` waits in short slices and gives up as soon as the pool has
  counted a failed connect since it began (`connections_errors`), so a call
  fails as fast as connecting fails (at once when the database refuses, after
  CONNECT_TIMEOUT_S when its host does not answer), as a direct connect would.

Each connection `draw` takes is first checked (one round trip,
`check_connection`): after the database ended the server's sessions (a
restart, `pg_terminate_backend`) the idle ones in the pool are broken too, and
lending one would fail one more call.  A broken one is given back (the pool
discards it and connects a replacement) and the next is taken at once.  `draw`
checks, not the pool's own `check`: after a failed check the pool sleeps a
backoff (a second or more) before it looks again, and the request connection
is drawn on the event loop.  The request connection is drawn only when the one
it held broke, so the check costs the requests nothing; a Coordination call
pays one round trip.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..interface import PoolStats, StoreUnavailable

# Fail fast rather than hang when the database goes away: connecting gives up
# after CONNECT_TIMEOUT_S; TCP keepalives and tcp_user_timeout notice a
# database host that vanished; a lock held by a server that froze mid-transaction
# is given up after lock_timeout (the call fails, it does not hang the loop),
# and such a server's session is ended by idle_in_transaction_session_timeout.
CONNECT_TIMEOUT_S = 3
_OPTIONS = "-c lock_timeout=5000 -c statement_timeout=30000 -c idle_in_transaction_session_timeout=10000"
CONNECT_KWARGS: dict[str, Any] = {
    "autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 5,
    "keepalives_interval": 2, "keepalives_count": 2, "tcp_user_timeout": 5000, "options": _OPTIONS,
}

# The request connection and one for the lease thread's calls; more only while
# calls overlap (two threads calling Coordination at once), shrunk back after
# the pool's max_idle.
POOL_MIN = 2
POOL_MAX = 4
_SLICE_S = 0.05  # how often a waiting `draw` looks whether the pool's connect failed


def unavailable(exc: psycopg.Error) -> StoreUnavailable:
    """The error a call fails with when the database is out of reach: psycopg's
    reason on one line (ServerException's message names it)."""
    return StoreUnavailable(" ".join(str(exc).split())[:200] or type(exc).__name__)


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A connection of its own (not lent by the pool), with the pool's settings:
    the first one at start (a database out of reach is refused with libpq's
    reason; the pool would say only that it timed out) and LISTEN's."""
    return psycopg.connect(dsn, **CONNECT_KWARGS)


class Connections:
    """One pool per server process (the store opens it; `PostgresCoordination`
    borrows from it)."""

    def __init__(self, dsn: str, name: str = "portside") -> None:
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn, kwargs=CONNECT_KWARGS, min_size=POOL_MIN, max_size=POOL_MAX, name=name, open=False,
            timeout=CONNECT_TIMEOUT_S, reconnect_timeout=0,
            num_workers=2,
        )
        self._pool.open(wait=False)

    def draw(self) -> psycopg.Connection[Any]:
        """A working connection, to give back with `give_back`; StoreUnavailable
        when none can be had: at once once the pool's connect has failed, else
        after CONNECT_TIMEOUT_S (see the module's docstring)."""
        failed_before = self._pool.get_stats().get("connections_errors", 0)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                conn = self._pool.getconn(_SLICE_S)
            except PoolTimeout:
                conn = None
            except psycopg.Error as exc:  # the pool is closed (the server stops)
                raise unavailable(exc) from exc
            if conn is not None:
                try:
                    ConnectionPool.check_connection(conn)
                    return conn
                except psycopg.Error:
                    self.give_back(conn)  # broken: discarded, and a replacement connected
            if self._pool.get_stats().get("connections_errors", 0) > failed_before:
                raise StoreUnavailable("connecting to the database failed")
            if time.monotonic() >= deadline:
                raise StoreUnavailable(f"no connection to the database within {CONNECT_TIMEOUT_S} s")

    def give_back(self, conn: psycopg.Connection[Any]) -> None:
        """Return a connection drawn; a broken one is discarded and replaced."""
        if conn.broken:
            conn.close()  # its socket now, not when it is collected
        self._pool.putconn(conn)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one call (`with`), given back after it."""
        conn = self.draw()
        try:
            yield conn
        finally:
            self.give_back(conn)

    def stats(self) -> PoolStats:
        stats = self._pool.get_stats()
        return PoolStats(
            size=stats.get("pool_size", 0), available=stats.get("pool_available", 0),
            waiting=stats.get("requests_waiting", 0), opened=stats.get("connections_num", 0),
            errors=stats.get("connections_errors", 0),
            lost=stats.get("connections_lost", 0) + stats.get("returns_bad", 0),
        )

    def close(self) -> None:
        self._pool.close()
