"""Whether this server leads: runs the service scheduler (REPLICA and DAEMON)
and the retention janitor.  One server on SQLite always leads; servers sharing
a PostgreSQL database take turns through the leader lease
(`store.interface.Coordination`, renewed by `server/peers.py`).

The lease counts as ours until `ttl - margin` seconds after the start of the
last renewal that succeeded, measured on this host's monotonic clock: the
database's expiry is later than that, so this server stops leading before any
other can start.  Its writes are fenced besides (`UnitOfWork.fenced(token)`),
so a server paused past that point still cannot write once deposed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Leadership:
    shared: bool = False  # several servers on one database: leadership is a lease
    token: int | None = None  # the fencing token of the lease we hold
    until: float = 0.0  # monotonic time at which our lease counts as lost
    database_ok: bool = True  # the last contact with the database succeeded

    @property
    def leading(self) -> bool:
        if not self.shared:
            return True
        return self.token is not None and time.monotonic() < self.until

    @property
    def role(self) -> str:
        return "leader" if self.leading else "follower"

    @property
    def fence(self) -> int | None:
        """The token the leader's transactions check (None: nothing to check)."""
        return self.token if self.shared else None

    def renewed(self, token: int | None, started: float, ttl_s: float, margin_s: float) -> None:
        self.database_ok = True
        self.token = token
        self.until = started + ttl_s - margin_s if token is not None else 0.0

    def unreachable(self) -> None:
        """The database did not answer: we lead until our lease runs out, no longer."""
        self.database_ok = False
