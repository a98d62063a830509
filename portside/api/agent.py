"""The calls a container agent makes: DiscoverPollEndpoint,
SubmitTaskStateChange, SubmitContainerStateChange.

Reports move tasks and containers forward only; a stale or repeated report is
acknowledged and changes nothing, so agents can retry freely (at least once).
"""

from __future__ import annotations

from typing import Any

from ..domain import task as tasks
from ..domain.status import Status
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import require_cluster
from .context import Context
from .tasks import release_resources, task_arn


@operation("DiscoverPollEndpoint")
def discover_poll_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    try:
        require_cluster(ctx, params.get("cluster"))
    except errors.ClusterNotFoundException as exc:  # not an error this operation declares
        raise errors.ClientException(exc.message) from exc
    endpoint = ctx.config.endpoint
    return {"endpoint": endpoint, "telemetryEndpoint": endpoint, "serviceConnectEndpoint": endpoint}


def _reported_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    arn = task_arn(ctx, cluster, params.get("task") or "")
    task = ctx.store.get_task(arn) if arn else None
    if task is None:
        raise errors.InvalidParameterException("The referenced task was not found.")
    return task


def _save(ctx: Context, task: dict[str, Any], report: dict[str, Any]) -> None:
    before = task["lastStatus"]
    stopped = tasks.apply_task_change(task, report, ctx.clock.now())
    ctx.store.put_task(task)
    if stopped:
        release_resources(ctx, task)  # after the row says STOPPED: see PlacementCache.hold
    if task["lastStatus"] != before and str(task.get("group", "")).startswith("service:"):
        ctx.service_wakeup.set()  # the service scheduler looks at once


def _check_statuses(*statuses: Any) -> None:
    """Reported statuses are ECS statuses (the model has them as plain strings)."""
    for status in statuses:
        if status is not None and status not in Status.__members__:
            raise errors.InvalidParameterException(f"Unknown status {str(status)[:64]!r}.")


@operation("SubmitContainerStateChange")
def submit_container_state_change(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_statuses(params.get("status"))
    with ctx.store.transaction():
        task = _reported_task(ctx, params)
        if not tasks.apply_container_change(task, params):
            raise errors.InvalidParameterException(
                f"Container {params.get('containerName')} is not part of the task."
            )
        _save(ctx, task, {})
    return {"acknowledgment": "ACK"}


@operation("SubmitTaskStateChange")
def submit_task_state_change(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_statuses(params.get("status"), *(c.get("status") for c in params.get("containers", [])))
    with ctx.store.transaction():
        task = _reported_task(ctx, params)
        for change in params.get("containers", []):
            if not tasks.apply_container_change(task, change):
                raise errors.InvalidParameterException(
                    f"Container {change.get('containerName')} is not part of the task."
                )
        _save(ctx, task, params)
    return {"acknowledgment": "ACK"}
