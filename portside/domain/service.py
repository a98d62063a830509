"""Services: deployments, the rolling-update arithmetic, the circuit breaker
and the events ECS writes, as pure functions over ECS-shaped dicts.

A service document is the `Service` shape and nothing else; what the
scheduler must remember across ticks and restarts is a `SchedulerMemory`
record kept beside it (domain/service_record.py).  The reconciler
(scheduler/service_reconciler.py) does the I/O.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field

from .documents import Doc
from .service_record import SchedulerMemory
from .status import Status

MAX_EVENTS = 100  # describe-services shows the latest 100 events
CIRCUIT_BREAKER_MIN, CIRCUIT_BREAKER_MAX = 3, 200
SERVICE_STOP_CODE = "ServiceSchedulerInitiated"

DEFAULT_REPLICA_STRATEGY = [
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "spread", "field": "instanceId"},
]

_rng = random.SystemRandom()


def new_deployment_id() -> str:
    """`ecs-svc/` and 19 digits, as ECS names deployments."""
    return "ecs-svc/" + str(_rng.randrange(10**18, 10**19))


def default_deployment_configuration(strategy: str) -> Doc:
    daemon = strategy == "DAEMON"
    return {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 100 if daemon else 200,
        "minimumHealthyPercent": 0 if daemon else 100,
    }


def merge_deployment_configuration(current: Doc, given: Doc | None) -> Doc:
    merged = dict(current)
    for member, value in (given or {}).items():
        if member == "deploymentCircuitBreaker":
            merged[member] = {"enable": bool(value.get("enable")), "rollback": bool(value.get("rollback"))}
            if value.get("thresholdConfiguration"):  # refused by domain/deployment_configuration.py
                merged[member]["thresholdConfiguration"] = value["thresholdConfiguration"]
        elif value is not None:
            merged[member] = value
    return merged


def new_deployment(service: Doc, task_definition_arn: str, now: float, reason: str | None = None) -> Doc:
    deployment_id = new_deployment_id()
    return {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition_arn,
        "desiredCount": service["desiredCount"],
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": "EC2",
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": reason or f"ECS deployment {deployment_id} in progress.",
    }


def start_deployment(service: Doc, memory: SchedulerMemory, task_definition_arn: str, now: float,
                     reason: str | None = None) -> Doc:
    """A new PRIMARY deployment; the previous primary keeps its tasks as ACTIVE
    until the rollout replaces them.  The scheduler's memory of the service
    starts over (not steady, not throttled for the old one's failures)."""
    for deployment in service["deployments"]:
        if deployment["status"] == "PRIMARY":
            deployment["status"] = "ACTIVE"
            deployment["updatedAt"] = now
    deployment = new_deployment(service, task_definition_arn, now, reason)
    service["deployments"].insert(0, deployment)
    service["taskDefinition"] = task_definition_arn
    memory.deployment_started()
    return deployment


def primary(service: Doc) -> Doc:
    return service["deployments"][0]


def failure_threshold(desired_count: int) -> int:
    """The circuit breaker's threshold: 0.5 × desired count, within [3, 200]."""
    return min(CIRCUIT_BREAKER_MAX, max(CIRCUIT_BREAKER_MIN, math.ceil(0.5 * desired_count)))


def add_event(service: Doc, message: str, now: float) -> None:
    events = service.setdefault("events", [])
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now, "message": message})
    del events[MAX_EVENTS:]


def short_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def started_message(name: str, task_arns: list[str]) -> str:
    ids = " ".join(f"(task {short_id(a)})" for a in task_arns)
    return f"(service {name}) has started {len(task_arns)} tasks: {ids}."


def stopped_message(name: str, task_arns: list[str]) -> str:
    ids = " ".join(f"(task {short_id(a)})" for a in task_arns)
    return f"(service {name}) has stopped {len(task_arns)} running tasks: {ids}."


def steady_message(name: str) -> str:
    return f"(service {name}) has reached a steady state."


_CLOSEST = {
    "RESOURCE:CPU": "has insufficient CPU units available",
    "RESOURCE:MEMORY": "has insufficient memory available",
    "RESOURCE:PORTS": "is already using a port required by your task",
    "RESOURCE:PORTS_UDP": "is already using a port required by your task",
    "AGENT": "is missing an attribute required by your task",
}


def unplaceable_message(name: str, failures: list[dict[str, str]]) -> str:
    if failures and "arn" not in failures[0]:  # Fargate: no instance of the user's to name
        return (f"(service {name}) was unable to place a task. Reason: {failures[0]['reason']}. "
                "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
    head = f"(service {name}) was unable to place a task because no container instance met all of its requirements."
    if not failures:
        return head + " Reason: No Container Instances were found in your cluster."
    first = failures[0]
    why = _CLOSEST.get(first.get("reason", ""), f"encountered error \"{first.get('reason')}\"")
    return (f"{head} The closest matching (container-instance {short_id(first['arn'])}) {why}. "
            "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")


def stop_reason(deployment_id: str) -> str:
    return f"Scaling activity initiated by (deployment {deployment_id})"


# -- the rolling-update arithmetic -------------------------------------------------


@dataclass(frozen=True)
class LiveTask:
    arn: str
    started_by: str | None
    instance_arn: str | None
    desired: str
    last: str
    healthy: bool = True  # RUNNING and its health check passed (or it has none)

    @property
    def running(self) -> bool:
        return self.last == "RUNNING"

    @property
    def wanted(self) -> bool:
        """Not yet asked to stop."""
        return self.desired != "STOPPED"


@dataclass
class Plan:
    start: int = 0  # new tasks of the primary deployment
    stop: list[LiveTask] = field(default_factory=list)


def lower_limit(desired: int, minimum_healthy_percent: int) -> int:
    """Healthy tasks to keep: minimumHealthyPercent of desired, rounded up."""
    return math.ceil(desired * minimum_healthy_percent / 100)


def upper_limit(desired: int, maximum_percent: int) -> int:
    """Tasks allowed at once: maximumPercent of desired, rounded down."""
    return math.floor(desired * maximum_percent / 100)


def plan_replica(
    desired: int,
    minimum_healthy_percent: int,
    maximum_percent: int,
    primary_id: str,
    tasks: list[LiveTask],
    usable_instances: set[str],
    may_start: bool = True,
) -> Plan:
    """What one tick does for a REPLICA service: start tasks of the primary
    deployment up to `desired` (within maximumPercent of running + pending
    tasks), stop tasks of older deployments and tasks on instances no longer
    ACTIVE (keeping minimumHealthyPercent of desired RUNNING), and stop the
    primary's surplus after a scale-in."""
    wanted = [t for t in tasks if t.wanted]
    good = [t for t in wanted if t.started_by == primary_id and t.instance_arn in usable_instances]
    old = [t for t in wanted if not (t.started_by == primary_id and t.instance_arn in usable_instances)]
    plan = Plan()
    if may_start and len(good) < desired:
        room = upper_limit(desired, maximum_percent) - len(wanted)
        plan.start = max(0, min(desired - len(good), room))
    healthy = sum(1 for t in wanted if t.running and t.healthy)
    budget = healthy - lower_limit(desired, minimum_healthy_percent)
    # Tasks not yet RUNNING cost no health: stop them first, freely.
    for t in old:
        if not t.running:
            plan.stop.append(t)
    for t in old:
        if t.running and budget > 0:
            plan.stop.append(t)
            budget -= 1
    surplus = len(good) - desired
    if surplus > 0:
        for t in sorted(good, key=lambda t: t.running):  # pending ones first
            if surplus <= 0:
                break
            if t.running:
                if budget <= 0:
                    break
                budget -= 1
            plan.stop.append(t)
            surplus -= 1
    return plan


def is_live(status: str) -> bool:
    return Status.of(status) < Status.STOPPED
