"""What several servers on one PostgreSQL database share outside the unit of
work (`store.interface.Coordination`): the leader lease, when agents last
polled, and the notices that wake other servers' long polls.

The lease is one row (`leader_lease`): a holder, a fencing token and an expiry
in the database's own clock (so the servers' clocks never decide who leads).
A holder extends it; anyone takes it once it has expired, and taking it bumps
the token.  The leader's transactions check the token (`PostgresDatabase.fenced`),
so a deposed leader (its renewals failed: it was partitioned from the database,
or frozen) cannot write once another server has taken over.

Each call borrows a connection from the server's pool (`pool.Connections`,
the one the store opened) for its duration: never the request connection,
whose transactions it must not join, and never one another thread is using,
so calls from several threads at once each have their own.  A connection that
broke goes back to the pool, which discards and replaces it; the call fails
with StoreUnavailable and the next one gets a working connection.  The
listener holds a connection of its own for LISTEN (see `listen`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ..interface import NoticeHandler, StopFlag
from .database import CHANNEL, unreachable
from .pool import Connections, connect, unavailable

log = logging.getLogger("portside.store")

LISTEN_RECONNECT_S = 1.0


class PostgresCoordination:
    """`connections`: the server's pool (`PostgresStore.connections`).  Without
    one (a tool or a test using Coordination alone) it opens a pool of its own,
    closed with it."""

    def __init__(self, dsn: str, connections: Connections | None = None) -> None:
        self._dsn = dsn
        self._owned = connections is None
        self._connections = connections if connections is not None else Connections(dsn, name="coordination")

    @contextmanager
    def _borrowed(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection from the pool for one call, given back after it (the pool
        replaces it if it broke); StoreUnavailable when the database is out of reach."""
        with self._connections.connection() as conn:
            try:
                yield conn
            except psycopg.Error as exc:
                if not unreachable(exc, conn):
                    raise
                raise unavailable(exc) from exc

    def renew_lease(self, holder: str, ttl_s: float) -> int | None:
        """The token stays while `holder` keeps the lease alive; it is bumped
        whenever the lease changes hands, or when `holder` comes back to a lease
        it let expire (what it wrote under the old token may have been fenced)."""
        with self._borrowed() as conn:
            row = conn.execute(
                "UPDATE leader_lease SET "
                "token = CASE WHEN holder = %(me)s AND expires_at > now() THEN token ELSE token + 1 END, "
                "holder = %(me)s, expires_at = now() + make_interval(secs => %(ttl)s) "
                "WHERE id = 1 AND (holder = %(me)s OR expires_at <= now()) RETURNING token",
                {"me": holder, "ttl": ttl_s},
            ).fetchone()
        return int(row[0]) if row else None

    def resign(self, holder: str) -> None:
        with self._borrowed() as conn:
            conn.execute("UPDATE leader_lease SET expires_at = now() WHERE id = 1 AND holder = %s", (holder,))

    def share_agent_polls(self, polled: dict[str, float]) -> dict[str, float]:
        with self._borrowed() as conn:
            if polled:
                arns = sorted(polled)
                conn.execute(
                    "INSERT INTO agent_polls (instance_arn, polled_at) SELECT * FROM unnest(%s::text[], %s::float8[]) "
                    "ON CONFLICT (instance_arn) DO UPDATE SET "
                    "polled_at = GREATEST(agent_polls.polled_at, excluded.polled_at)",
                    (arns, [polled[a] for a in arns]),
                )
            rows = conn.execute("SELECT instance_arn, polled_at FROM agent_polls").fetchall()
        return {arn: float(at) for arn, at in rows}

    def listen(self, on_notice: NoticeHandler, stopping: StopFlag) -> None:
        """On a connection of its own, not one of the pool's: LISTEN is state of
        the session (a pooled connection given back would carry the
        registration, and the notices queued on it, to its next borrower), and
        the connection is held for the life of the server, so the pool would
        lend it once and then only count it.  When it breaks, a new one is made
        after LISTEN_RECONNECT_S."""
        while not stopping.is_set():
            try:
                with connect(self._dsn) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    on_notice(None)  # notices sent while we were not listening are lost
                    while not stopping.is_set():
                        for notice in conn.notifies(timeout=1.0):
                            for payload in notice.payload.split("\n"):  # a batch's notices share one
                                on_notice(payload)
            except psycopg.Error as exc:
                log.debug("listening for notices: %s; reconnecting", exc)
                if not stopping.is_set():
                    time.sleep(LISTEN_RECONNECT_S)

    def close(self) -> None:
        if self._owned:
            self._connections.close()
