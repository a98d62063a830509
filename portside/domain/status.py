"""Task and container statuses: ordered, moving forward only.

The order is the ECS agent's: PROVISIONING < PENDING < ACTIVATING < RUNNING <
DEACTIVATING < STOPPING < DEPROVISIONING < STOPPED.  A report of an earlier
status than the one known is stale and changes nothing.
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    PROVISIONING = 0
    PENDING = 1
    ACTIVATING = 2
    RUNNING = 3
    DEACTIVATING = 4
    STOPPING = 5
    DEPROVISIONING = 6
    STOPPED = 7

    @classmethod
    def of(cls, name: str) -> "Status":
        return cls[name]


def advance(current: str, reported: str) -> str:
    """The status after a report: the later of the two."""
    return reported if Status.of(reported) > Status.of(current) else current


def is_live(status: str) -> bool:
    return Status.of(status) < Status.STOPPED


def task_status_from_containers(container_statuses: list[str]) -> str:
    """A task is as far along as its least advanced container."""
    return min(container_statuses, key=Status.of) if container_statuses else "PENDING"
