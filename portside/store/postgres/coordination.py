"""What several servers on one PostgreSQL database share outside the unit of
work (`store.interface.Coordination`): the leader lease, when agents last
polled, and the notices that wake other servers' long polls.

The lease is one row (`leader_lease`): a holder, a fencing token and an expiry
in the database's own clock (so the servers' clocks never decide who leads).
A holder extends it; anyone takes it once it has expired, and taking it bumps
the token.  The leader's transactions check the token (`PostgresDatabase.fenced`),
so a deposed leader (its renewals failed: it was partitioned from the database,
or frozen) cannot write once another server has taken over.

Each method runs on a connection of its own (never the request connection,
whose transactions it must not join), from a worker thread; the listener holds
another connection for LISTEN.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from ..interface import NoticeHandler, StopFlag, StoreUnavailable
from .database import CHANNEL, connect, unreachable

log = logging.getLogger("portside.store")

LISTEN_RECONNECT_S = 1.0


class PostgresCoordination:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None

    def _execute(self, sql: str, args: Any = ()) -> Any:
        try:
            if self._conn is None or self._conn.broken or self._conn.closed:
                self._conn = connect(self._dsn)
            return self._conn.execute(sql, args)
        except psycopg.Error as exc:
            if not unreachable(exc, self._conn):
                raise
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise StoreUnavailable(" ".join(str(exc).split())[:200] or type(exc).__name__) from exc

    def renew_lease(self, holder: str, ttl_s: float) -> int | None:
        """The token stays while `holder` keeps the lease alive; it is bumped
        whenever the lease changes hands, or when `holder` comes back to a lease
        it let expire (what it wrote under the old token may have been fenced)."""
        row = self._execute(
            "UPDATE leader_lease SET "
            "token = CASE WHEN holder = %(me)s AND expires_at > now() THEN token ELSE token + 1 END, "
            "holder = %(me)s, expires_at = now() + make_interval(secs => %(ttl)s) "
            "WHERE id = 1 AND (holder = %(me)s OR expires_at <= now()) RETURNING token",
            {"me": holder, "ttl": ttl_s},
        ).fetchone()
        return int(row[0]) if row else None

    def resign(self, holder: str) -> None:
        self._execute("UPDATE leader_lease SET expires_at = now() WHERE id = 1 AND holder = %s", (holder,))

    def share_agent_polls(self, polled: dict[str, float]) -> dict[str, float]:
        if polled:
            arns = sorted(polled)
            self._execute(
                "INSERT INTO agent_polls (instance_arn, polled_at) SELECT * FROM unnest(%s::text[], %s::float8[]) "
                "ON CONFLICT (instance_arn) DO UPDATE SET "
                "polled_at = GREATEST(agent_polls.polled_at, excluded.polled_at)",
                (arns, [polled[a] for a in arns]),
            )
        return {arn: float(at) for arn, at in self._execute("SELECT instance_arn, polled_at FROM agent_polls")}

    def listen(self, on_notice: NoticeHandler, stopping: StopFlag) -> None:
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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
