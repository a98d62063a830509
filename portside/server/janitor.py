"""Stopped tasks stay describable for the retention period, then are purged;
log events older than their group's retention are purged too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..control.context import Context
from ..control.expiry import purge_deleted_secrets, purge_expired_log_events
from ..store.failures import StoreBusy, StoreWriteFailed
from ..store.interface import NotLeader, StoreUnavailable

log = logging.getLogger("portside.janitor")


# tasks deleted per transaction: a few milliseconds of the loop (500 held it up to ~90 ms on a busy machine)
PURGE_BATCH = 100


def purge_once(ctx: Context, limit: int = PURGE_BATCH) -> int:
    with ctx.store.transaction():
        return ctx.store.purge_stopped_tasks(ctx.clock.now() - ctx.config.task_retention_s, limit)


async def purge_loop(ctx: Context) -> None:
    """Purge in batches, each committed before the next, with the loop free
    in between: 20,000 expired tasks deleted at once held every request for
    ~390 ms."""
    interval = max(0.5, min(60.0, ctx.config.task_retention_s / 10))
    while True:
        await asyncio.sleep(interval)
        if not ctx.leadership.leading:  # the leader purges (control/leadership.py)
            continue
        total = 0
        while True:
            try:
                with ctx.store.fenced(ctx.leadership.fence):
                    purged = purge_once(ctx)
                await ctx.store.durable()
            except (StoreWriteFailed, StoreBusy):
                break  # logged once by the store; another process holds the write lock: next round
            except (NotLeader, StoreUnavailable) as exc:
                log.warning("purging stopped tasks stopped: %s", exc)
                break
            except Exception:  # the loop must outlive a bad moment of the database
                log.exception("purging stopped tasks failed")
                break
            total += purged
            if purged < PURGE_BATCH:
                break
            await asyncio.sleep(0)
        if total:
            log.info("purged %d stopped tasks", total)
        await _purge(ctx, purge_expired_log_events, "expired log events")
        await _purge(ctx, purge_deleted_secrets, "secrets past their recovery window")


async def _purge(ctx: Context, purge: Callable[[Context], int], what: str) -> None:
    try:
        with ctx.store.fenced(ctx.leadership.fence):
            purged = purge(ctx)
        await ctx.store.durable()
    except (StoreWriteFailed, StoreBusy):
        return  # logged once by the store; another process holds the write lock: next round
    except (NotLeader, StoreUnavailable) as exc:
        log.warning("purging %s stopped: %s", what, exc)
        return
    except Exception:  # the loop must outlive a bad moment of the database
        log.exception("purging %s failed", what)
        return
    if purged:
        log.info("purged %d %s", purged, what)
