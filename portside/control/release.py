"""Stopping tasks and giving back what they held.

StopTask and the service scheduler ask for a stop (desiredStatus STOPPED; the
agent does the stopping and reports it); a task's CPU, memory and ports go
back to its instance when the agent reports it STOPPED (control/report.py).
Each instance whose tasks change is woken so that its agent's poll answers
once the transaction has committed.
"""

from __future__ import annotations

from ..domain import task as tasks
from ..domain.documents import Doc
from ..domain.resources import Reservation
from ..protocol import errors
from ..protocol.serialize import Encoded
from .context import Context
from .lookup import require_cluster, task_arn
from .services import nudge, service_arn_of


def task_host(ctx: Context, task: Doc) -> str | None:
    """The instance a task runs on: its containerInstanceArn, or for a
    Fargate task (which shows none) the Fargate host its row names."""
    return task.get("containerInstanceArn") or (
        ctx.store.task_instance(task["taskArn"]) if task.get("launchType") == "FARGATE" else None)


def release_resources(ctx: Context, task: Doc) -> None:
    """Give a stopped task's CPU, memory and ports back to its instance."""
    arn = task_host(ctx, task)
    if arn:
        held = Reservation.from_doc(ctx.store.task_reservation(task["taskArn"]))
        ctx.placement.hold(arn, held, task.get("group") or "", release=True)


def stop_task(ctx: Context, params: Doc) -> Encoded | Doc:
    """StopTask, in its own transaction: the task as it is now (its stored
    wire document when this call changed it; a task already stopping is
    answered as it is)."""
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        arn = task_arn(ctx, cluster, params["task"])
        task = store.get_task(arn) if arn else None
        if task is None:
            raise errors.InvalidParameterException("The referenced task was not found.")
        if not tasks.request_stop(task, params.get("reason"), ctx.clock.now()):
            task.pop("tags", None)
            return task
        stored = store.put_task(task)  # a stored task carries no tags: it is the answer as it is
        host = task_host(ctx, task)
        if host:
            ctx.wakeups.notify(host)
        service = service_arn_of(ctx, task)
        if service:
            nudge(ctx, service)  # its service replaces it
    return Encoded(stored)


def stop_tasks(ctx: Context, arns: list[str], reason: str, stop_code: str, now: float) -> list[str]:
    """Ask each task `arns` names to stop (in the caller's transaction), with
    `stop_code`; returns the ARNs of those that were not stopping already."""
    store = ctx.store
    stopped = []
    notify = set()
    for arn in arns:
        task = store.get_task(arn)
        if task is None or not tasks.request_stop(task, reason, now):
            continue
        task["stopCode"] = stop_code
        store.put_task(task)
        stopped.append(arn)
        host = task_host(ctx, task)
        if host:
            notify.add(host)
    for instance in notify:
        ctx.wakeups.notify(instance)
    return stopped
