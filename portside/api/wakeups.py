"""Who is waiting for news about a container instance.

A change the API commits for an instance (a task placed on it, a task to stop)
wakes the agent's long poll at once; nothing polls in a loop.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Wakeups:
    def __init__(self) -> None:
        self._versions: dict[str, int] = defaultdict(int)
        self._waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)

    def version(self, instance_arn: str) -> int:
        return self._versions[instance_arn]

    def notify(self, instance_arn: str) -> None:
        self._versions[instance_arn] += 1
        for waiter in self._waiters.pop(instance_arn, []):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, instance_arn: str, seen_version: int, timeout: float) -> None:
        """Return when the instance's version moves past seen_version, or on timeout."""
        if self._versions[instance_arn] != seen_version:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[instance_arn].append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(instance_arn)
            if waiters and waiter in waiters:
                waiters.remove(waiter)
