"""Stopped tasks stay describable for the retention period, then are purged."""

from __future__ import annotations

import asyncio
import logging

from ..control.context import Context

log = logging.getLogger("portside.janitor")


def purge_once(ctx: Context) -> int:
    with ctx.store.transaction():
        return ctx.store.purge_stopped_tasks(ctx.clock.now() - ctx.config.task_retention_s)


async def purge_loop(ctx: Context) -> None:
    interval = max(0.5, min(60.0, ctx.config.task_retention_s / 10))
    while True:
        await asyncio.sleep(interval)
        try:
            purged = purge_once(ctx)
        except Exception:  # the loop must outlive a bad moment of the database
            log.exception("purging stopped tasks failed")
        else:
            if purged:
                log.info("purged %d stopped tasks", purged)
