"""Task scale-in protection: GetTaskProtection, UpdateTaskProtection
(control/task_protection.py).  Only a service's tasks that are not yet
STOPPED can be protected, as on AWS; others come back in `failures`."""

from __future__ import annotations

from typing import Any

from ..control import task_protection as protection
from ..control.lookup import task_arn
from ..control.services import nudge
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import failure, require_cluster
from .context import Context

Doc = dict[str, Any]
MAX_TASKS = 10


def _tasks(ctx: Context, cluster: Doc, identifiers: list[str]) -> tuple[list[Doc], list[dict[str, str]]]:
    if len(identifiers) > MAX_TASKS:
        raise errors.InvalidParameterException(f"tasks can have at most {MAX_TASKS} items.")
    found, failures = [], []
    for identifier in identifiers:
        arn = task_arn(ctx, cluster, identifier)
        task = ctx.store.get_task(arn) if arn else None
        if arn is None or task is None:
            failures.append(failure(arn or identifier, "MISSING"))
        elif not str(task.get("group", "")).startswith("service:"):
            failures.append(failure(arn, "TASK_NOT_VALID", "The task is not part of a service."))
        elif task["lastStatus"] == "STOPPED" or task["desiredStatus"] == "STOPPED":
            failures.append(failure(arn, "TASK_NOT_VALID", "The task is stopping or stopped."))
        else:
            found.append(task)
    return found, failures


@operation("UpdateTaskProtection")
def update_task_protection(ctx: Context, params: Doc) -> Doc:
    minutes = params.get("expiresInMinutes")
    if minutes is not None and not 1 <= minutes <= protection.MAX_MINUTES:
        raise errors.InvalidParameterException(
            f"expiresInMinutes must be between 1 and {protection.MAX_MINUTES}.")
    if not params["tasks"]:
        raise errors.InvalidParameterException("Tasks cannot be empty.")
    now = ctx.clock.now()
    with ctx.store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        tasks, failures = _tasks(ctx, cluster, params["tasks"])
        protected = [protection.protect(ctx, t, params["protectionEnabled"], minutes, now) for t in tasks]
    nudge(ctx)  # a task no longer protected may be stopped now
    return {"protectedTasks": protected, "failures": failures}


@operation("GetTaskProtection")
def get_task_protection(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("cluster"))
    if not params.get("tasks"):
        raise errors.InvalidParameterException("Tasks cannot be empty.")
    tasks, failures = _tasks(ctx, cluster, params["tasks"])
    now = ctx.clock.now()
    return {"protectedTasks": [protection.protection(ctx, t["taskArn"], now) for t in tasks], "failures": failures}
