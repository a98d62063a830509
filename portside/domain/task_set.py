"""Task sets of a service with the EXTERNAL deployment controller, as pure
functions over the `taskSets` of the Service document.

Each task set keeps `computedDesiredCount` = ⌈service desiredCount × scale %⌉
tasks of its task definition running (its tasks' `startedBy` is the task set
id); a DRAINING task set (DeleteTaskSet, or the service deleted) keeps none
and leaves the list when its tasks are gone.  One task set may be PRIMARY
(UpdateServicePrimaryTaskSet); the others are ACTIVE.  A task set is
STEADY_STATE when exactly its computed count is RUNNING and nothing else of
it is pending, STABILIZING otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .service import LiveTask, new_deployment_id

Doc = dict[str, Any]


def is_external(service: Doc) -> bool:
    return (service.get("deploymentController") or {}).get("type") == "EXTERNAL"


def computed_count(desired: int, scale: Doc) -> int:
    return math.ceil(desired * float(scale.get("value", 100.0)) / 100.0 - 1e-9)


def new_task_set(service: Doc, arn_for: Any, task_definition: str, scale: Doc, external_id: str | None,
                 launch_type: str, now: float) -> Doc:
    ts_id = new_deployment_id()
    doc: Doc = {
        "id": ts_id,
        "taskSetArn": arn_for(ts_id),
        "serviceArn": service["serviceArn"],
        "clusterArn": service["clusterArn"],
        "status": "ACTIVE",
        "taskDefinition": task_definition,
        "computedDesiredCount": computed_count(service["desiredCount"], scale),
        "pendingCount": 0,
        "runningCount": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": launch_type,
        "scale": scale,
        "stabilityStatus": "STABILIZING",
        "stabilityStatusAt": now,
        "loadBalancers": [],
        "serviceRegistries": [],
    }
    if external_id is not None:
        doc["externalId"] = external_id
    return doc


@dataclass
class TaskSetPlan:
    start: list[tuple[Doc, int]] = field(default_factory=list)  # (task set, tasks to start)
    stop: list[LiveTask] = field(default_factory=list)


def plan_task_sets(service: Doc, live: list[LiveTask], usable_instances: set[str]) -> TaskSetPlan:
    """What one tick does: each task set to its computed count (tasks on
    instances no longer ACTIVE are replaced), DRAINING ones and tasks of no
    task set stopped."""
    plan = TaskSetPlan()
    serving = service["status"] == "ACTIVE"
    wanted = [t for t in live if t.wanted]
    sets = {ts["id"]: ts for ts in service.get("taskSets") or []}
    for t in wanted:
        if t.started_by not in sets:
            plan.stop.append(t)
    for ts in sets.values():
        mine = [t for t in wanted if t.started_by == ts["id"]]
        desired = ts["computedDesiredCount"] if serving and ts["status"] != "DRAINING" else 0
        good = [t for t in mine if t.instance_arn in usable_instances]
        plan.stop.extend(t for t in mine if t.instance_arn not in usable_instances)
        if len(good) < desired:
            plan.start.append((ts, desired - len(good)))
        elif len(good) > desired:
            plan.stop.extend(sorted(good, key=lambda t: t.running)[: len(good) - desired])  # pending first
    return plan


def bookkeeping(service: Doc, live: list[LiveTask], now: float) -> None:
    """Counts and stability per task set, the service's sums, DRAINING task
    sets gone once their tasks are, and a deleted service INACTIVE once all are."""
    kept = []
    running = pending = 0
    for ts in service.get("taskSets") or []:
        mine = [t for t in live if t.started_by == ts["id"]]
        if ts["status"] == "DRAINING" and not mine:
            continue
        r = sum(1 for t in mine if t.running)
        p = sum(1 for t in mine if t.wanted and not t.running)
        stable = r == ts["computedDesiredCount"] and p == 0 and len(mine) == r
        status = "STEADY_STATE" if stable else "STABILIZING"
        if (ts["runningCount"], ts["pendingCount"], ts["stabilityStatus"]) != (r, p, status):
            if ts["stabilityStatus"] != status:
                ts["stabilityStatusAt"] = now
            ts.update(runningCount=r, pendingCount=p, stabilityStatus=status, updatedAt=now)
        running, pending = running + r, pending + p
        kept.append(ts)
    service["taskSets"] = kept
    service["runningCount"], service["pendingCount"] = running, pending
    if service["status"] == "DRAINING" and not live:
        service["status"] = "INACTIVE"
        service["taskSets"] = []


def rescale(service: Doc, now: float) -> None:
    """The service's desiredCount changed: every task set's computed count follows."""
    for ts in service.get("taskSets") or []:
        count = computed_count(service["desiredCount"], ts["scale"])
        if count != ts["computedDesiredCount"]:
            ts["computedDesiredCount"] = count
            ts["updatedAt"] = now
