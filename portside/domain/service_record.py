"""What Portside keeps for a service beside its ECS document: the one
constructor of the Service document, the service scheduler's memory (a typed
record the store keeps in a column of its own, never inside the wire
document), and the task group that marks a service's tasks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .documents import Doc
from .lifecycle import Lifecycle

GROUP_PREFIX = "service:"
DAEMON_GROUP_PREFIX = "daemon:"  # a daemon's tasks (CreateDaemon); never a service name (no ':' allowed)


def service_group(service_name: str) -> str:
    """The group of the tasks a service starts (`service:NAME`, as ECS names it)."""
    return GROUP_PREFIX + service_name


def is_service_group(group: object) -> bool:
    """Whether a task's `group` is a service's (`service:NAME`)."""
    return str(group or "").startswith(GROUP_PREFIX)


def service_of_group(group: str | None) -> str | None:
    """The service a task belongs to, by its group; None for other groups."""
    return group[len(GROUP_PREFIX):] if group and group.startswith(GROUP_PREFIX) else None


def daemon_group(daemon_name: str) -> str:
    """The group of a daemon's tasks (`daemon:NAME`)."""
    return DAEMON_GROUP_PREFIX + daemon_name


def scheduler_of_group(group: str | None) -> str | None:
    """Which scheduler owns a task, as the store's `service_name` column keeps
    it: the service's name for `service:NAME`, `daemon:NAME` for a daemon's
    task (no service name has a ':', so the two never meet), else None."""
    if group and group.startswith(DAEMON_GROUP_PREFIX):
        return group
    return service_of_group(group)


def is_scheduled_group(group: object) -> bool:
    """Whether a task's group is a service's or a daemon's: a scheduler replaces it."""
    return str(group or "").startswith((GROUP_PREFIX, DAEMON_GROUP_PREFIX))


@dataclass
class CompletedDeployment:
    """The last deployment that reached COMPLETED: where a circuit breaker rolls back to."""

    id: str
    task_definition: str


@dataclass
class SchedulerMemory:
    """What the service scheduler must remember of a service across ticks
    and restarts, and that ECS does not show."""

    client_token: str | None = None  # CreateService's clientToken: a retry with it is answered, not refused
    stopped_watermark: float = 0.0  # the service's tasks stopped up to here are counted already
    steady: bool = False  # the steady-state event was written for the current state
    fail_streak: int = 0  # tasks failed in a row (launch throttling, the circuit breaker)
    failed_at: float = 0.0  # when the last of them failed
    settled_since: float | None = None  # settled after failures since then (see STABLE_AFTER_S)
    last_completed: CompletedDeployment | None = None
    unplaceable_message: str | None = None  # the last "unable to place" event, repeated at most every 30 s
    unplaceable_at: float = 0.0
    lifecycle: Lifecycle | None = None  # where the current BLUE_GREEN deployment is (domain/lifecycle.py)
    task_set_tokens: dict[str, str] = field(default_factory=dict)  # CreateTaskSet clientToken → task set id
    # the IN_PROGRESS deployment's tasks seen healthy at the last look (resetOnHealthyTask, domain/circuit_breaker.py)
    healthy_seen: list[str] = field(default_factory=list)

    def deployment_started(self) -> None:
        """A new deployment is not steady, nor throttled for the old one's failures."""
        self.steady = False
        self.fail_streak = 0
        self.lifecycle = None
        self.healthy_seen = []

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SchedulerMemory:
        """From what `to_record` gave (members missing from older records take their defaults)."""
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        last = known.pop("last_completed", None)
        lifecycle = known.pop("lifecycle", None)
        return cls(**known, last_completed=CompletedDeployment(**last) if last else None,
                   lifecycle=Lifecycle.from_record(lifecycle) if lifecycle else None)


def new_service(
    arn: str,
    name: str,
    cluster_arn: str,
    task_definition_arn: str | None,  # None: an EXTERNAL service, deployed through task sets
    launch_type: str,
    params: Doc,
    configuration: Doc,
    strategy: str,
    created_by: str,
    now: float,
) -> Doc:
    """A new ACTIVE Service document from CreateService's parameters (already
    checked), with no deployment yet (see `service.start_deployment`); the
    launch type's own members are added by the caller
    (`control.launch_types.service_launch_fields`)."""
    return {
        "serviceArn": arn,
        "serviceName": name,
        "clusterArn": cluster_arn,
        "status": "ACTIVE",
        "desiredCount": params.get("desiredCount") or 0,
        "runningCount": 0,
        "pendingCount": 0,
        "launchType": launch_type,
        "taskDefinition": task_definition_arn,
        "deploymentConfiguration": configuration,
        "deployments": [],
        "events": [],
        "createdAt": now,
        "placementConstraints": params.get("placementConstraints") or [],
        "placementStrategy": params.get("placementStrategy") or [],
        "schedulingStrategy": strategy,
        "deploymentController": {"type": "ECS"},
        "enableECSManagedTags": bool(params.get("enableECSManagedTags", False)),
        "propagateTags": params.get("propagateTags") or "NONE",
        "enableExecuteCommand": bool(params.get("enableExecuteCommand", False)),
        "serviceConnectConfiguration": params.get("serviceConnectConfiguration"),
        "healthCheckGracePeriodSeconds": params.get("healthCheckGracePeriodSeconds") or 0,
        "createdBy": created_by,
    }
