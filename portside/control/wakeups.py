"""Who is waiting for news about a container instance.

A change the API commits for an instance (a task placed on it, a task to stop)
wakes the agent's long poll at once; nothing polls in a loop.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any


class Wakeups:
    """`publish`, when set (servers sharing a database), tells the other
    servers too: an agent may be polling one of them (`server/peers.py`
    delivers their notices here through `notify_local`)."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = defaultdict(int)
        self._waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._closing = False
        self.publish: Callable[[str], None] | None = None

    def version(self, instance_arn: str) -> int:
        return self._versions[instance_arn]

    def notify(self, instance_arn: str) -> None:
        if self.publish is not None:
            self.publish(instance_arn)
        self.notify_local(instance_arn)

    def notify_waiting(self) -> None:
        """Wake every poll held here: news for them may have been missed."""
        for arn in list(self._waiters):
            self.notify_local(arn)

    def notify_local(self, instance_arn: str) -> None:
        self._versions[instance_arn] += 1
        for waiter in self._waiters.pop(instance_arn, []):
            if not waiter.done():
                waiter.set_result(None)

    def wake_all(self) -> None:
        """Answer every waiting poll now, and every later one at once: the
        server is shutting down (a poll held now would hold the shutdown)."""
        self._closing = True
        self.notify_waiting()

    async def wait(
        self,
        instance_arn: str,
        seen_version: int,
        timeout: float,
        gone: asyncio.Future[Any] | None = None,
    ) -> None:
        """Return when the instance's version moves past seen_version, on
        timeout, or when `gone` completes (the poller hung up)."""
        if self._closing or self._versions[instance_arn] != seen_version:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[instance_arn].append(waiter)
        try:
            await asyncio.wait([waiter, gone] if gone else [waiter], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiters = self._waiters.get(instance_arn)
            if waiters and waiter in waiters:
                waiters.remove(waiter)


class ServiceNudge:
    """Wakes the service scheduler now rather than at its next tick, and says
    for which services: those a change touched (a service updated, one of its
    tasks changed status), or all of them after a change that may concern any
    (an instance registered, drained or deregistered; `set()`).  The scheduler
    reconciles only these and the ones that are due
    (scheduler/service_reconciler.py), so 1,000 idle services cost nothing
    between changes.  When `publish` is set (servers sharing a database) a
    nudge on a server that does not lead is passed on to the one that does
    (`server/peers.py`), which then looks at every service."""

    publish: Callable[[], None] | None = None

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._arns: builtins.set[str] = builtins.set()
        self._everything = False

    def set(self) -> None:
        """Every service, on this server and (published) on the leader."""
        self._publish()
        self.set_local()

    def set_local(self) -> None:
        """Every service, on this server only (a peer's nudge)."""
        self._everything = True
        self.event.set()

    def nudge(self, service_arns: Iterable[str | None]) -> None:
        """These services (None entries are skipped; none left: nothing)."""
        named = [arn for arn in service_arns if arn]
        if not named:
            return
        self._publish()
        self._arns.update(named)
        self.event.set()

    def _publish(self) -> None:
        if self.publish is not None and not self.event.is_set():
            self.publish()

    def is_set(self) -> bool:
        return self.event.is_set()

    def take(self) -> tuple[bool, builtins.set[str]]:
        """(every service?, the services named) since the last take."""
        everything, arns = self._everything, self._arns
        self._everything, self._arns = False, builtins.set()
        self.event.clear()
        return everything, arns
