"""Time comes from an injected clock so tests and simulations can move it
(portside/testing/fakes.py has one that moves only when told to)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()
