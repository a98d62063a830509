"""Ordered, at-least-once delivery of state changes to the server.

Each task has its own queue, drained in order by one worker, so a task's
reports arrive in the order they happened while different tasks proceed in
parallel.  A report is retried with backoff while the server is unreachable
or refuses it for a reason that is not about the report (a signature that
expired after a clock step, a key not yet known, throttling, a server error):
the task's later reports wait behind it, so order holds.  The server ignores
repeats, so sending one twice is harmless.  Only an answer that refuses the
report itself (the task or cluster is gone, a member is invalid) drops it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .metrics import REPORT_LAG_SECONDS, REPORT_RETRIES
from .server_client import ServerClient, ServerRefused, ServerUnavailable

log = logging.getLogger("portside.agent.reporter")

# Refusals about the report itself: sending it again cannot help.
REPORT_REFUSED = frozenset({
    "InvalidParameterException", "ClientException", "ClusterNotFoundException",
    "SerializationException", "ValidationException", "UnknownOperationException",
})


class Reporter:
    def __init__(self, client: ServerClient, max_backoff: float = 5.0, refused_backoff: float = 10.0) -> None:
        self._client = client
        self._queues: dict[str, asyncio.Queue[tuple[str, dict[str, Any], float]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._max_backoff = max_backoff
        self._refused_backoff = refused_backoff

    def submit(self, task_arn: str, operation: str, **params: Any) -> None:
        queue = self._queues.get(task_arn)
        if queue is None:
            queue = self._queues[task_arn] = asyncio.Queue()
            self._workers[task_arn] = asyncio.create_task(self._drain(task_arn, queue))
        queue.put_nowait((operation, params, time.monotonic()))

    async def flush(self, task_arn: str) -> None:
        """Wait until every report queued for the task has been delivered."""
        queue = self._queues.get(task_arn)
        if queue is not None:
            await queue.join()

    async def _drain(self, task_arn: str, queue: asyncio.Queue[tuple[str, dict[str, Any], float]]) -> None:
        while True:
            operation, params, queued_at = await queue.get()
            delay = 0.1
            while True:
                try:
                    await self._client.call(operation, **params)
                    REPORT_LAG_SECONDS.labels(operation).observe(time.monotonic() - queued_at)
                    break
                except ServerRefused as exc:
                    if exc.code in REPORT_REFUSED:
                        log.warning("server refused %s for %s: %s", operation, task_arn, exc)
                        break
                    if delay == 0.1:  # once per report, not per retry
                        log.warning("server refused %s for %s: %s; retrying", operation, task_arn, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._refused_backoff)
                except ServerUnavailable:
                    REPORT_RETRIES.inc()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_backoff)
            queue.task_done()
            if queue.empty() and operation == "submit_task_state_change" and params.get("status") == "STOPPED":
                self._queues.pop(task_arn, None)
                self._workers.pop(task_arn, None)
                return

    async def flush_all(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until every queued report is delivered or dropped."""
        queues = list(self._queues.values())
        if queues:
            await asyncio.wait([asyncio.ensure_future(q.join()) for q in queues], timeout=timeout)

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
