"""Who is waiting for news about a container instance.

A change the API commits for an instance (a task placed on it, a task to stop)
wakes the agent's long poll at once; nothing polls in a loop.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


class Wakeups:
    def __init__(self) -> None:
        self._versions: dict[str, int] = defaultdict(int)
        self._waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._closing = False

    def version(self, instance_arn: str) -> int:
        return self._versions[instance_arn]

    def notify(self, instance_arn: str) -> None:
        self._versions[instance_arn] += 1
        for waiter in self._waiters.pop(instance_arn, []):
            if not waiter.done():
                waiter.set_result(None)

    def wake_all(self) -> None:
        """Answer every waiting poll now, and every later one at once: the
        server is shutting down (a poll held now would hold the shutdown)."""
        self._closing = True
        for arn in list(self._waiters):
            self.notify(arn)

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


class ServiceNudges:
    """Which services the service scheduler must look at now: those a change
    touched (a service updated, one of its tasks changed status), or all of
    them after a change that may concern any (an instance registered,
    drained or deregistered).  The scheduler reconciles only these and the
    ones that are due (scheduler/service_reconciler.py), so 1,000 idle
    services cost nothing between changes."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._arns: set[str] = set()
        self._everything = False

    def nudge(self, service_arns: Iterable[str | None] | None = None) -> None:
        """Wake the scheduler for these services (None: for every service)."""
        if service_arns is None:
            self._everything = True
        else:
            named = [arn for arn in service_arns if arn]
            if not named:
                return
            self._arns.update(named)
        self.event.set()

    def take(self) -> tuple[bool, set[str]]:
        """(every service?, the services named) since the last take."""
        everything, arns = self._everything, self._arns
        self._everything, self._arns = False, set()
        self.event.clear()
        return everything, arns
