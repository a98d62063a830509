"""What the service handlers and the service scheduler share: a service's
tasks as the scheduler counts them, and the nudge that wakes the scheduler."""

from __future__ import annotations

from ..domain import health
from ..domain.documents import Doc
from ..domain.service_record import is_service_group, service_of_group
from .context import Context
from .lookup import task_definition

__all__ = ["is_service_group", "nudge", "task_counts", "task_rows"]

TaskRow = tuple[str, "str | None", "str | None", str, str]


def nudge(ctx: Context, *service_arns: str | None) -> None:
    """Wake the service scheduler now for these services, or for every one
    when none is named (it also looks at services that are due on its own)."""
    if service_arns:
        ctx.service_wakeup.nudge(service_arns)
    else:
        ctx.service_wakeup.set()


def service_arn_of(ctx: Context, task: Doc) -> str | None:
    """The ARN of the service a task belongs to (by its group), if any."""
    name = service_of_group(task.get("group"))
    if name is None or not task.get("clusterArn"):
        return None
    return ctx.arns.service(str(task["clusterArn"]).rsplit("/", 1)[-1], name)


def task_rows(ctx: Context, service: Doc) -> list[TaskRow]:
    """The service's tasks not yet STOPPED that are its scheduler's, as
    (ARN, startedBy, instance ARN, desiredStatus, lastStatus): those its
    deployments started (a RunTask with group `service:NAME` is listed with
    the service but is not the scheduler's), less orphans on deregistered
    instances (no agent reports on them again: replaced, never waited for)."""
    ids = {d["id"] for d in service["deployments"]} | {ts["id"] for ts in service.get("taskSets") or []}
    store = ctx.store
    gone = {d["containerInstanceArn"] for d in ctx.placement.list_instances(service["clusterArn"], ("INACTIVE",))}
    rows = store.service_tasks(service["clusterArn"], service["serviceName"])
    return [row for row in rows if row[1] in ids and row[2] not in gone]


def task_counts(ctx: Context, service: Doc) -> dict[str | None, tuple[int, int]]:
    """startedBy → (RUNNING tasks, tasks wanted RUNNING but not yet there)."""
    counts: dict[str | None, tuple[int, int]] = {}
    for _arn, started_by, _instance, desired, last in task_rows(ctx, service):
        r, p = counts.get(started_by, (0, 0))
        if last == "RUNNING":
            r += 1
        elif desired == "RUNNING":
            p += 1
        counts[started_by] = (r, p)
    return counts


def not_yet_healthy(ctx: Context, service: Doc, rows: list[TaskRow]) -> set[str]:
    """ARNs of RUNNING tasks whose health check has not passed (task
    healthStatus not HEALTHY while a container has a check): a deployment
    counts them as neither healthy nor done, as ECS does.  Task documents
    are read only when a deployment's task definition has a health check."""
    checked = set()
    for deployment in service["deployments"]:
        if health.has_check(task_definition(ctx, deployment["taskDefinition"])):
            checked.add(deployment["id"])
    if not checked:
        return set()
    result = set()
    for arn, started_by, _instance, _desired, last in rows:
        if last == "RUNNING" and started_by in checked:
            task = ctx.store.get_task(arn)
            if task is not None and task.get("healthStatus") != "HEALTHY":
                result.add(arn)
    return result
