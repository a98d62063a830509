"""Keeping each service's deployment history (service deployments and
service revisions) in step with its scheduler deployments.

Called in the same transaction as every change to a service's deployments
(CreateService, UpdateService, DeleteService, each reconcile of the service
scheduler, StopServiceDeployment), so the history is committed with the change
it describes.  The rules are in domain/service_deployment.py.
"""

from __future__ import annotations

import secrets

from .. import arns as arn_parsing
from ..arns import Arns
from ..domain import service as services
from ..domain import service_deployment as history_rules
from ..domain.documents import Doc
from ..domain.lifecycle import HOOK_ROLLBACK, Lifecycle
from ..domain.service_deployment import History, Names
from ..domain.service_record import SchedulerMemory
from ..protocol import errors
from ..store.interface import Store
from .context import Context

KIND = "service-history"


def names(arns: Arns, service: Doc) -> Names:
    cluster = service["clusterArn"].rsplit("/", 1)[-1]
    name = service["serviceName"]
    return Names(
        deployment_arn=lambda: arns.service_deployment(cluster, name, secrets.token_urlsafe(16)),
        revision_arn=lambda ecs_id: arns.service_revision(cluster, name, ecs_id.rsplit("/", 1)[-1]),
    )


def load(store: Store, service_arn: str) -> History:
    return History.from_doc(store.records.get(KIND, service_arn))


def save(store: Store, service: Doc, history: History) -> None:
    store.records.put(KIND, service["serviceArn"], service["clusterArn"], service["status"], history.to_doc())


def forget(store: Store, service_arn: str) -> None:
    """A service created again under the same name starts a new history."""
    store.records.delete(KIND, service_arn)


def sync(store: Store, arns: Arns, service: Doc, now: float, stages: Lifecycle | None = None) -> History:
    """Record what the service's deployments did since the last sync.  The
    history depends on the service document (and a BLUE_GREEN deployment's
    stage, `stages`) alone, so callers sync only when they change those (and
    a rolled-back change is synced again when it is made again)."""
    history = load(store, service["serviceArn"])
    before = history.to_doc()
    history_rules.sync(history, service, names(arns, service), now)
    history_rules.show_lifecycle(history, stages)
    if history.to_doc() != before:
        save(store, service, history)
    return history


def roll_back_blue_green(store: Store, arns: Arns, service: Doc, memory: SchedulerMemory, reason: str,
                         now: float) -> Doc | None:
    """Return a BLUE_GREEN deployment to blue (in the caller's transaction):
    the newest older deployment, whose tasks still run, is PRIMARY again and
    green's tasks are stopped (the deployment is then at CLEAN_UP, with
    green as what is cleaned up).  None when there is no blue to return to."""
    if len(service["deployments"]) < 2:
        return None
    history = load(store, service["serviceArn"])
    entry = history.current()
    green, blue = service["deployments"][0], service["deployments"][1]
    revision = history.links.get(blue["id"])
    if entry is None or revision is None:
        return None
    green.update(status="ACTIVE", rolloutState="FAILED", rolloutStateReason=reason, updatedAt=now)
    blue.update(status="PRIMARY", rolloutState="IN_PROGRESS", desiredCount=service["desiredCount"],
                rolloutStateReason=reason, updatedAt=now)
    service["deployments"].remove(blue)
    service["deployments"].insert(0, blue)
    service["taskDefinition"] = blue["taskDefinition"]
    paused = memory.lifecycle.hooks if memory.lifecycle is not None else []
    for run in paused:
        if run.status == "AWAITING_ACTION":  # the rollback resolves the hooks it was waiting on
            run.status = "FAILED"
    memory.deployment_started()
    memory.lifecycle = Lifecycle(blue["id"], "CLEAN_UP", now, paused)  # the hooks stay shown
    services.add_event(service, f"(service {service['serviceName']}) (deployment {green['id']}) rolling back to "
                       f"deployment {blue['id']}.", now)
    history_rules.start_rollback(history, entry, blue, revision, reason, now)
    history_rules.sync(history, service, names(arns, service), now)
    save(store, service, history)
    return blue


def current(store: Store, service: Doc) -> Doc:
    """The Service members `currentServiceDeployment` and `currentServiceRevisions`."""
    history = load(store, service["serviceArn"])
    entry = history.current()
    if entry is None:
        return {}
    counts = history_rules.revision_counts(history, service)
    revisions = []
    for d in service["deployments"]:
        arn = history.links.get(d["id"])
        if arn and arn not in revisions:
            revisions.append(arn)
    return {
        "currentServiceDeployment": entry.doc["serviceDeploymentArn"],
        "currentServiceRevisions": [
            {"arn": a, "requestedTaskCount": counts[a][0], "runningTaskCount": counts[a][1],
             "pendingTaskCount": counts[a][2]} for a in revisions
        ],
    }


def locate(ctx: Context, arn: str, kind: str) -> tuple[Doc, History] | None:
    """The service (and its history) a service-deployment or service-revision
    ARN (`KIND/CLUSTER/SERVICE/ID`) belongs to."""
    parsed = arn_parsing.parse(arn)
    if parsed is None or parsed.kind != kind or len(parsed.parts) != 3 or not ctx.arns.owns(parsed):
        return None
    service = ctx.store.get_service(ctx.arns.service(parsed.parts[0], parsed.parts[1]))
    if service is None:
        return None
    return service, load(ctx.store, service["serviceArn"])


def stop(ctx: Context, arn: str, stop_type: str) -> None:
    """StopServiceDeployment: roll the service's current deployment back to
    its source revision (task definition and placement rules), as a new
    scheduler deployment that belongs to the stopped one."""
    if stop_type != "ROLLBACK":
        raise errors.InvalidParameterException(
            f"stopType {stop_type} is not supported. The valid value is ROLLBACK."
        )
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        found = locate(ctx, arn, "service-deployment")
        entry = found[1].entry(arn) if found else None
        if found is None or entry is None:
            raise errors.ServiceDeploymentNotFoundException(f"The service deployment {arn} does not exist.")
        service, history = found
        status = entry.doc["status"]
        if status in ("STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
            return  # already stopping: it goes on
        if status in history_rules.TERMINAL:
            raise errors.ConflictException(
                f"The service deployment {arn} has already finished ({status}) and cannot be stopped."
            )
        if entry is not history.current() or service["status"] != "ACTIVE":
            raise errors.ConflictException(f"The service deployment {arn} is not the service's current deployment.")
        memory = store.get_service_memory(service["serviceArn"])
        if (memory.lifecycle is not None and memory.lifecycle.deployment_id == entry.targetEcsId
                and memory.lifecycle.stage != "CLEAN_UP"):  # a BLUE_GREEN deployment: back to blue
            if roll_back_blue_green(store, ctx.arns, service, memory, history_rules.USER_ROLLBACK, now):
                store.put_service(service, memory)
                return
        target = history_rules.rollback_revision(history, entry)
        if target is None:
            raise errors.InvalidParameterException(
                f"The service deployment {arn} has no previous service revision to roll back to."
            )
        revision = history.revisions[target]
        service["placementConstraints"] = list(revision.placementConstraints)
        service["placementStrategy"] = list(revision.placementStrategy)
        reason = history_rules.USER_ROLLBACK
        deployment = services.start_deployment(service, memory, revision.doc["taskDefinition"], now, reason)
        services.add_event(service, f"(service {service['serviceName']}) (deployment {deployment['id']}) "
                           f"rolling back to service revision {target}.", now)
        history_rules.start_rollback(history, entry, deployment, target, reason, now)
        history_rules.sync(history, service, names(ctx.arns, service), now)
        save(store, service, history)
        store.put_service(service, memory)


def continue_deployment(ctx: Context, arn: str, hook_id: str, action: str) -> None:
    """ContinueServiceDeployment: resolve a PAUSE hook the current deployment
    waits on, by continuing it or rolling the deployment back to blue."""
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        found = locate(ctx, arn, "service-deployment")
        entry = found[1].entry(arn) if found else None
        if found is None or entry is None:
            raise errors.ServiceDeploymentNotFoundException(f"The service deployment {arn} does not exist.")
        service, history = found
        if entry is not history.current() or entry.doc["status"] != "IN_PROGRESS" or service["status"] != "ACTIVE":
            raise errors.InvalidParameterException(
                f"The service deployment {arn} is {entry.doc['status']}; only the current IN_PROGRESS "
                "deployment can be continued.")
        memory = store.get_service_memory(service["serviceArn"])
        stages = memory.lifecycle
        run = None
        if stages is not None and stages.deployment_id == entry.targetEcsId:
            run = next((h for h in stages.awaiting() if h.hook_id == hook_id), None)
        if stages is None or run is None:
            raise errors.InvalidParameterException(
                f"The service deployment {arn} is not waiting on lifecycle hook {hook_id[:128]}.")
        if action == "CONTINUE":
            run.status = "SUCCEEDED"
        else:
            if len(service["deployments"]) < 2:
                raise errors.InvalidParameterException(
                    f"The service deployment {arn} has no previous service revision to roll back to.")
            run.status = "FAILED"
            roll_back_blue_green(store, ctx.arns, service, memory, HOOK_ROLLBACK, now)
        sync(store, ctx.arns, service, now, memory.lifecycle)
        store.put_service(service, memory)
