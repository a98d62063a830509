"""Task scale-in protection: GetTaskProtection, UpdateTaskProtection
(control/task_protection.py).  Only a service's tasks that are not yet
STOPPED can be protected, as on AWS; others come back in `failures`."""

from __future__ import annotations

from typing import Any

from ..control import task_protection as protection
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import require_cluster
from .context import Context

Doc = dict[str, Any]


@operation("UpdateTaskProtection")
def update_task_protection(ctx: Context, params: Doc) -> Doc:
    minutes = params.get("expiresInMinutes")
    if minutes is not None and not 1 <= minutes <= protection.MAX_MINUTES:
        raise errors.InvalidParameterException(
            f"expiresInMinutes must be between 1 and {protection.MAX_MINUTES}.")
    if not params["tasks"]:
        raise errors.InvalidParameterException("Tasks cannot be empty.")
    protected, failures = protection.update(
        ctx, params.get("cluster"), params["tasks"], params["protectionEnabled"], minutes)
    return {"protectedTasks": protected, "failures": failures}


@operation("GetTaskProtection")
def get_task_protection(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("cluster"))
    if not params.get("tasks"):
        raise errors.InvalidParameterException("Tasks cannot be empty.")
    tasks, failures = protection.protectable(ctx, cluster, params["tasks"])
    now = ctx.clock.now()
    return {"protectedTasks": [protection.protection(ctx, t["taskArn"], now) for t in tasks], "failures": failures}
