"""Task scale-in protection (GetTaskProtection, UpdateTaskProtection), kept
in the store's records (kind `task-protection`, keyed by task ARN).  The
service scheduler honours it: scale-in and deployments do not stop a
protected task until its protection expires, as ECS documents.  A StopTask
by the user, and a task whose instance is gone, still stop it."""

from __future__ import annotations

from typing import Any

from ..protocol import errors
from .lookup import failure, require_cluster, task_arn
from .services import nudge

Doc = dict[str, Any]
Failure = dict[str, str]

KIND = "task-protection"
DEFAULT_MINUTES, MAX_MINUTES = 120, 2880
MAX_TASKS = 10


def protectable(ctx: Any, cluster: Doc, identifiers: list[str]) -> tuple[list[Doc], list[Failure]]:
    """The tasks `identifiers` name that can carry protection (a service's,
    not stopping), and a `failures` entry for each other one, as AWS answers."""
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


def update(
    ctx: Any, cluster_id: str | None, identifiers: list[str], enabled: bool, minutes: int | None
) -> tuple[list[Doc], list[Failure]]:
    """UpdateTaskProtection, in its own transaction: (ProtectedTask answers, failures).
    The service scheduler is nudged: a task no longer protected may be stopped now."""
    now = ctx.clock.now()
    with ctx.store.transaction():
        cluster = require_cluster(ctx, cluster_id)
        tasks, failures = protectable(ctx, cluster, identifiers)
        protected = [protect(ctx, t, enabled, minutes, now) for t in tasks]
    nudge(ctx)
    return protected, failures


def protect(ctx: Any, task: Doc, enabled: bool, minutes: int | None, now: float) -> Doc:
    """Turn protection on (for `minutes`, default 120) or off; the ProtectedTask answer."""
    arn = task["taskArn"]
    if not enabled:
        ctx.store.records.delete(KIND, arn)
        return {"taskArn": arn, "protectionEnabled": False}
    expires = now + 60 * (minutes or DEFAULT_MINUTES)
    ctx.store.records.put(KIND, arn, task["clusterArn"], "ACTIVE", {"taskArn": arn, "expiresAt": expires})
    return {"taskArn": arn, "protectionEnabled": True, "expirationDate": expires}


def protection(ctx: Any, arn: str, now: float) -> Doc:
    """The ProtectedTask view of a task now (expired protection is off)."""
    found = ctx.store.records.get(KIND, arn)
    if found is None or found["expiresAt"] <= now:
        return {"taskArn": arn, "protectionEnabled": False}
    return {"taskArn": arn, "protectionEnabled": True, "expirationDate": found["expiresAt"]}


def protected(ctx: Any, arns: list[str], now: float) -> set[str]:
    """Which of these tasks the service scheduler must not stop now."""
    return {arn for arn in arns if protection(ctx, arn, now)["protectionEnabled"]}


def forget(ctx: Any, arn: str) -> None:
    """A stopped task needs no protection record."""
    ctx.store.records.delete(KIND, arn)
