"""What an agent reports: task and container state changes, container
health, an awsvpc task's attachment, and that it now polls for its tasks.

Reports move tasks and containers forward only; a stale or repeated report is
acknowledged and changes nothing, so agents can retry freely (at least once).
A task that reaches STOPPED gives its resources back in the same transaction,
and a service's task that changes status wakes the service scheduler.
"""

from __future__ import annotations

import logging

from ..domain import awsvpc, execute_command, health
from ..domain import task as tasks
from ..domain.documents import Doc
from ..domain.service import SERVICE_STOP_CODE
from ..domain.service_record import is_scheduled_group
from ..protocol import errors
from .context import Context
from .lookup import require_cluster, task_arn, task_definition
from .release import release_resources, stop_tasks
from .services import nudge, service_arn_of

log = logging.getLogger("portside.tasks")


def _reported_task(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("cluster"))
    arn = task_arn(ctx, cluster, params.get("task") or "")
    task = ctx.store.get_task(arn) if arn else None
    if task is None:
        raise errors.InvalidParameterException("The referenced task was not found.")
    return task


def _apply_containers(task: Doc, changes: list[Doc]) -> None:
    for change in changes:
        if not tasks.apply_container_change(task, change):
            raise errors.InvalidParameterException(
                f"Container {change.get('containerName')} is not part of the task."
            )


def _save(ctx: Context, task: Doc, report: Doc) -> None:
    before = task["lastStatus"]
    stopped = tasks.apply_task_change(task, report, ctx.clock.now())
    execute_command.update_managed_agents(task, ctx.clock.now())
    ctx.store.put_task(task)
    if task["lastStatus"] != before and task["lastStatus"] in ("RUNNING", "STOPPED"):
        _log_change(task)
    if stopped:
        release_resources(ctx, task)  # after the row says STOPPED: see PlacementCache.hold
    if task["lastStatus"] != before and is_scheduled_group(task.get("group")):
        nudge(ctx, service_arn_of(ctx, task) or _daemon_arn_of(ctx, task))  # the scheduler looks at once


def _daemon_arn_of(ctx: Context, task: Doc) -> str:
    """The daemon a daemon's task (group `daemon:NAME`) belongs to."""
    name = str(task.get("group", "")).partition(":")[2]
    return ctx.arns.daemon(str(task.get("clusterArn", "")).rsplit("/", 1)[-1], name)


def _log_change(task: Doc) -> None:
    extra = {"cluster": task.get("clusterArn", "").rpartition("/")[2], "task": task["taskArn"].rpartition("/")[2]}
    if task["lastStatus"] == "RUNNING":
        log.info("task started (%s)", task.get("group", ""), extra=extra)
        return
    exits = ", ".join(f'{c["name"]}={c.get("exitCode")}' for c in task.get("containers", []))
    log.info("task stopped: %s %s (exit codes %s)", task.get("stopCode", ""), task.get("stoppedReason", ""), exits,
             extra=extra)


def container_changed(ctx: Context, params: Doc) -> None:
    """SubmitContainerStateChange, in its own transaction."""
    with ctx.store.transaction():
        task = _reported_task(ctx, params)
        _apply_containers(task, [params])
        _save(ctx, task, {})


def task_changed(ctx: Context, params: Doc) -> None:
    """SubmitTaskStateChange (with its containers' changes), in its own transaction."""
    with ctx.store.transaction():
        task = _reported_task(ctx, params)
        _apply_containers(task, params.get("containers", []))
        _save(ctx, task, params)


def health_changed(ctx: Context, params: Doc) -> None:
    """The agent saw containers' health change: keep it and derive the task's.
    A service's task turning UNHEALTHY is stopped (ECS's reason) for its
    scheduler to replace; a task run on its own carries on, as ECS documents."""
    with ctx.store.transaction():
        task = _reported_task(ctx, params)
        if task["lastStatus"] == "STOPPED":
            return
        definition = task_definition(ctx, task["taskDefinitionArn"]) or {"containerDefinitions": []}
        reported = {c["containerName"]: c["healthStatus"] for c in params["containers"]}
        if not health.apply(task, definition["containerDefinitions"], reported):
            return
        ctx.store.put_task(task)
        if (task["healthStatus"] == health.UNHEALTHY and task["desiredStatus"] == "RUNNING"
                and is_scheduled_group(task.get("group"))
                and str(task.get("startedBy", "")).startswith(("ecs-svc/", "ecs-daemon/"))):
            stop_tasks(ctx, [task["taskArn"]], health.HEALTH_CHECK_FAILED, SERVICE_STOP_CODE,
                       ctx.clock.now())
        if is_scheduled_group(task.get("group")):  # health decides deployments and steady states
            nudge(ctx, service_arn_of(ctx, task) or _daemon_arn_of(ctx, task))


def attachment_reported(ctx: Context, params: dict[str, str]) -> None:
    """ReportAttachment, in its own transaction: the agent gave an awsvpc task
    its network namespace, so the task's ENI attachment is ATTACHED with the
    namespace's address (agent/awsvpc.py)."""
    with ctx.store.transaction():
        task = _reported_task(ctx, params)
        if not awsvpc.attach(task, params["attachmentId"], params["privateIPv4Address"],
                             params["macAddress"], ctx.config.region, ctx.clock.now()):
            raise errors.InvalidParameterException("The attachment is not the task's network interface.")
        ctx.store.put_task(task)


def agent_polls(ctx: Context, instance_arn: str) -> None:
    """The instance's agent polls for its tasks: from now on its connection
    follows its polls (control/heartbeats.py).  Stored, so that every server
    sharing the store counts it the same way; a no-op once recorded."""
    if ctx.heartbeats.agent_polls(instance_arn):
        return
    with ctx.store.transaction():
        ctx.store.mark_agent_polls(instance_arn)
    ctx.heartbeats.agent_polled(instance_arn)
