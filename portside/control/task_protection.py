"""Task scale-in protection (GetTaskProtection, UpdateTaskProtection), kept
in the store's records (kind `task-protection`, keyed by task ARN).  The
service scheduler honours it: scale-in and deployments do not stop a
protected task until its protection expires, as ECS documents.  A StopTask
by the user, and a task whose instance is gone, still stop it."""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]

KIND = "task-protection"
DEFAULT_MINUTES, MAX_MINUTES = 120, 2880


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
