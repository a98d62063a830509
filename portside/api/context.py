"""What every handler is given: the store, the clock, the settings, the ARNs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arns import Arns
from ..clock import Clock
from ..config import ServerConfig
from ..store.sqlite import SqliteStore
from .wakeups import Wakeups


@dataclass
class Context:
    store: SqliteStore
    clock: Clock
    config: ServerConfig
    arns: Arns
    wakeups: Wakeups = field(default_factory=lambda: Wakeups())
