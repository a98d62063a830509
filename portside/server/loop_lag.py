"""The event loop's lag, measured from inside: a 20 ms timer, and how late it
fires.  Every client waits as long as the loop is held by something else
(housekeeping, a long transaction), so this is the figure issue 14's "no loop
stall over ~20 ms" is about; `/metrics` shows it as
`portside_event_loop_lag_seconds`."""

from __future__ import annotations

import asyncio

from ..metrics import LOOP_LAG

PERIOD_S = 0.02


async def measure_loop_lag() -> None:
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(PERIOD_S)
        LOOP_LAG.observe(max(0.0, loop.time() - started - PERIOD_S))
