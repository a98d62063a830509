"""Servers sharing one PostgreSQL database (`store.interface.Coordination`):

- the leader lease, renewed every `ttl / 5` seconds: the server holding it runs
  the service scheduler and the janitor (`control/leadership.py`); when it dies
  or loses the database another takes over once the lease expires (`ttl`);
- agents' polls, shared every few seconds, so that an agent polling one server
  counts as connected on all of them (placement skips disconnected instances);
- notices (PostgreSQL LISTEN/NOTIFY, sent when the announcing transaction
  commits): a task placed through one server wakes the long poll its agent
  holds on another, and a task report reaching a follower nudges the leader's
  scheduler.

The database is only ever touched from worker threads here, on connections of
their own: a database that hangs stalls the lease thread, never the event loop,
and our lease then runs out by the monotonic clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..control.context import Context
from ..control.wakeups import ServiceNudge
from ..store.interface import Coordination, StoreUnavailable

log = logging.getLogger("portside.peers")

LEASE_TTL_S = 5.0  # a dead leader is replaced within this (plus one renewal period)
LEASE_MARGIN_S = 1.0  # we stop leading this long before the database's expiry
SHARE_POLLS_EVERY_S = 2.0
T = TypeVar("T")
_SERVICE = "*service"  # the notice that nudges the service scheduler (never an ARN)


class Peers:
    def __init__(self, ctx: Context, coordination: Coordination, announce: Callable[[str], None],
                 ttl_s: float = LEASE_TTL_S) -> None:
        """`announce` sends a notice to every server on the request connection
        (`PostgresStore.announce`: inside a transaction, when it commits)."""
        self.ctx = ctx
        self.coordination = coordination
        self.ttl_s = ttl_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{ctx.boot_id}"
        self._send = announce
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        self._lease_thread = _Worker("portside-lease")

    # the wiring --------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        ctx = self.ctx
        ctx.leadership.shared = True
        ctx.wakeups.publish = lambda arn: self._announce(f"{ctx.boot_id} {arn}")
        if isinstance(ctx.service_wakeup, ServiceNudge):
            ctx.service_wakeup.publish = self._nudge_leader
        self._listener = threading.Thread(
            target=self.coordination.listen,
            args=(lambda payload: _deliver(loop, self._notice, payload), self._stopping),
            name="portside-listen", daemon=True,
        )
        self._listener.start()
        return asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Let the lease go at once (a clean stop hands over without waiting for it to expire)."""
        self._stopping.set()
        if self.ctx.leadership.token is not None:
            try:
                await asyncio.wait_for(self._lease_thread.run(self.coordination.resign, self.holder), 2.0)
            except (StoreUnavailable, TimeoutError):
                pass
        self.ctx.leadership.token = None
        self._lease_thread.close()

    def _announce(self, payload: str) -> None:
        try:
            self._send(payload)
        except StoreUnavailable:
            pass  # the transaction it belongs to fails too; the agents' next poll finds the news

    def _nudge_leader(self) -> None:
        if not self.ctx.leadership.leading:
            self._announce(f"{self.ctx.boot_id} {_SERVICE}")

    def _notice(self, payload: str | None) -> None:
        """On the loop: another server's notice (None: we (re)connected and may have missed some)."""
        if payload is None:
            self.ctx.wakeups.notify_waiting()
            return
        sender, _, what = payload.partition(" ")
        if sender == self.ctx.boot_id:
            return  # our own: already delivered here
        if what == _SERVICE:
            if self.ctx.leadership.leading:
                nudge = self.ctx.service_wakeup
                (nudge.set_local if isinstance(nudge, ServiceNudge) else nudge.set)()
        else:
            self.ctx.wakeups.notify_local(what)

    # the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        period = self.ttl_s / 5
        next_share = 0.0
        shared_since = 0.0
        while not self._stopping.is_set():
            await self._renew()
            if time.monotonic() >= next_share:
                next_share = time.monotonic() + SHARE_POLLS_EVERY_S
                now = self.ctx.clock.now()
                try:
                    polled = self.ctx.heartbeats.polled_since(shared_since, now)
                    seen = await self._lease_thread.run(self.coordination.share_agent_polls, polled)
                    self.ctx.heartbeats.seen_elsewhere(seen)
                    shared_since = now - SHARE_POLLS_EVERY_S
                except StoreUnavailable:
                    pass  # the lease renewal reports it
                except Exception:
                    log.exception("sharing agents' polls failed")
            await asyncio.sleep(period)

    async def _renew(self) -> None:
        leadership = self.ctx.leadership
        was = leadership.leading
        started = time.monotonic()
        try:
            token = await self._lease_thread.run(self.coordination.renew_lease, self.holder, self.ttl_s)
        except StoreUnavailable as exc:
            if leadership.database_ok:
                log.warning("the database is unreachable: %s", exc)
            leadership.unreachable()
        except Exception:  # e.g. the lease row stayed locked past lock_timeout: try again next period
            log.exception("renewing the leader lease failed")
        else:
            if not leadership.database_ok:
                log.warning("the database is reachable again")
            leadership.renewed(token, started, self.ttl_s, LEASE_MARGIN_S)
        now = leadership.leading
        if now and not was:
            log.info("leading: this server runs the service scheduler and the janitor (token %s)",
                     leadership.token)
            self.ctx.service_wakeup.set()
        elif was and not now:
            log.warning("no longer leading (the lease is lost or held by another server)")


class _Worker:
    """One thread for the lease's calls (each on a connection borrowed from the pool):
    they run one at a time, in order, and one that hangs (a database that stopped
    answering) holds only this thread."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _deliver(loop: asyncio.AbstractEventLoop, handle: Callable[[str | None], None], payload: str | None) -> None:
    """From the listener's thread onto the loop; a notice arriving as the server stops is dropped."""
    try:
        loop.call_soon_threadsafe(handle, payload)
    except RuntimeError:  # the loop is closed
        pass
