"""Task and container statuses: ordered, moving forward only.

The order is the ECS agent's: PROVISIONING < PENDING < ACTIVATING < RUNNING <
DEACTIVATING < STOPPING < DEPROVISIONING < STOPPED.  A report of an earlier
status than the one known is stale and changes nothing.

CREATED (a container created but not started) is the agent's own step between
PENDING and RUNNING, as in the ECS agent's container status; it never goes on
the wire, and a report that names it is refused (`REPORTED`).
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    PROVISIONING = 0
    PENDING = 1
    CREATED = 2  # the agent's own: never reported
    ACTIVATING = 3
    RUNNING = 4
    DEACTIVATING = 5
    STOPPING = 6
    DEPROVISIONING = 7
    STOPPED = 8

    @classmethod
    def of(cls, name: str) -> Status:
        return cls[name]


# The statuses an agent may report, and the server may answer with.
REPORTED = frozenset(s.name for s in Status if s is not Status.CREATED)


def advance(current: str, reported: str) -> str:
    """The status after a report: the later of the two."""
    return reported if Status.of(reported) > Status.of(current) else current


def is_live(status: str) -> bool:
    return Status.of(status) < Status.STOPPED


def task_status_from_containers(container_statuses: list[str]) -> str:
    """A task is as far along as its least advanced container."""
    return min(container_statuses, key=Status.of) if container_statuses else "PENDING"
