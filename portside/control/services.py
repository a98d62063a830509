"""What the service handlers and the service scheduler share: a service's
tasks as the scheduler counts them, and the nudge that wakes the scheduler."""

from __future__ import annotations

from typing import Any

from .context import Context

Doc = dict[str, Any]
TaskRow = tuple[str, "str | None", "str | None", str, str]

GROUP_PREFIX = "service:"


def is_service_group(group: object) -> bool:
    """Whether a task's `group` is a service's (`service:NAME`)."""
    return str(group or "").startswith(GROUP_PREFIX)


def nudge(ctx: Context) -> None:
    """Wake the service scheduler now (it also runs on its own every tick)."""
    ctx.service_wakeup.set()


def task_rows(ctx: Context, service: Doc) -> list[TaskRow]:
    """The service's tasks not yet STOPPED that are its scheduler's, as
    (ARN, startedBy, instance ARN, desiredStatus, lastStatus): those its
    deployments started (a RunTask with group `service:NAME` is listed with
    the service but is not the scheduler's), less orphans on deregistered
    instances (no agent reports on them again: replaced, never waited for)."""
    ids = {d["id"] for d in service["deployments"]}
    store = ctx.store
    gone = {d["containerInstanceArn"] for d in store.list_instances(service["clusterArn"], ("INACTIVE",))}
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
