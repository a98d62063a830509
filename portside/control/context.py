"""What every use case (and every handler) is given: the store, the clock,
the settings, the ARNs, and the in-memory news about instances (who polls,
who waits)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ..arns import Arns
from ..clock import Clock
from ..config import ServerConfig
from ..scheduler.placement_cache import PlacementCache
from ..store.interface import Store
from .heartbeats import Heartbeats
from .leadership import Leadership
from .wakeups import ServiceNudge, Wakeups


@dataclass
class Context:
    store: Store
    clock: Clock
    config: ServerConfig
    arns: Arns
    wakeups: Wakeups = field(default_factory=Wakeups)
    heartbeats: Heartbeats = field(default_factory=lambda: Heartbeats(0.0))
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    service_wakeup: ServiceNudge = field(default_factory=ServiceNudge)  # nudges the service scheduler
    leadership: Leadership = field(default_factory=Leadership)  # whether this server runs the schedulers
    task_roles: Any = field(default_factory=dict)  # role ARN → protocol.auth.TaskRoleKey (--credentials)
    exec_sessions: Any = None  # ECS Exec sessions and agents' exec channels (control/exec_sessions.py)
    # container instances as placement sees them (free capacity, task groups), over the store
    placement: PlacementCache = field(init=False)

    def __post_init__(self) -> None:
        self.placement = PlacementCache(self.store)

    def agent_connected(self, instance: dict[str, Any]) -> bool:
        return self.heartbeats.connected(instance, self.clock.now())
