"""Services: deployments, the rolling-update arithmetic, the circuit breaker
and the events ECS writes, as pure functions over ECS-shaped dicts.

A service document is the `Service` shape and nothing else; what the
scheduler must remember across ticks and restarts is a `SchedulerMemory`
record kept beside it (domain/service_record.py).  The reconciler
(scheduler/service_reconciler.py) does the I/O.
"""

from __future__ import annotations

import logging
import math
import random
import uuid

from .documents import Doc
from .service_plans import LiveTask, Plan, lower_limit, plan_replica, upper_limit
from .service_record import SchedulerMemory
from .status import Status

log = logging.getLogger("portside.service")
__all__ = ["LiveTask", "Plan", "lower_limit", "plan_replica", "upper_limit"]  # the planners: service_plans.py

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
            for extra in ("thresholdConfiguration", "resetOnHealthyTask"):  # checked by deployment_configuration.py
                if value.get(extra) is not None:
                    merged[member][extra] = value[extra]
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
    # the operator's log gets each event as the service's describers see it
    log.info(message, extra={"cluster": service.get("clusterArn", "").rpartition("/")[2]})
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


def is_live(status: str) -> bool:
    return Status.of(status) < Status.STOPPED
