"""CreateTaskSet, UpdateTaskSet, DeleteTaskSet and
UpdateServicePrimaryTaskSet: the task sets of a service with the EXTERNAL
deployment controller, kept in the service document, each change in one
transaction that stores the service and then nudges its scheduler (which
keeps each task set's tasks running; domain/task_set.py has the rules).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..domain import task_set as task_sets
from ..domain.documents import Doc
from ..protocol import errors
from .context import Context
from .launch import checked_task_definition
from .lookup import find_service, require_cluster
from .placing import placement_rules
from .services import nudge


def external_service(ctx: Context, cluster_id: str | None, identifier: str) -> tuple[Doc, Doc]:
    """(cluster, service): the ACTIVE service, which must use the EXTERNAL controller."""
    cluster = require_cluster(ctx, cluster_id)
    service = find_service(ctx, cluster, identifier)
    if service is None:
        raise errors.ServiceNotFoundException("Service not found.")
    if service["status"] != "ACTIVE":
        raise errors.ServiceNotActiveException("Service was not ACTIVE.")
    if not task_sets.is_external(service):
        raise errors.InvalidParameterException(
            "Amazon ECS task sets are only supported for services that use the EXTERNAL deployment controller.")
    return cluster, service


def _find(service: Doc, identifier: str) -> Doc:
    for ts in service.get("taskSets") or []:
        if identifier in (ts["id"], ts["taskSetArn"]):
            return ts
    raise errors.TaskSetNotFoundException("The specified task set does not exist.")


def create(ctx: Context, params: Doc, scale: Doc, tags: list[dict[str, str]]) -> tuple[Doc, bool]:
    """(the task set, whether this call made it): a retried CreateTaskSet
    (same clientToken) is answered with the task set the first call made."""
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster, service = external_service(ctx, params.get("cluster"), params["service"])
        memory = store.get_service_memory(service["serviceArn"])
        token = params.get("clientToken")
        for existing in service["taskSets"]:
            if token and memory.task_set_tokens.get(token) == existing["id"]:
                return existing, False
        definition = checked_task_definition(ctx, {"taskDefinition": params["taskDefinition"]})
        placement_rules(definition, service.get("placementStrategy"), service.get("placementConstraints"))

        def arn_for(ts_id: str) -> str:
            return ctx.arns.task_set(cluster["clusterName"], service["serviceName"], ts_id)

        ts = task_sets.new_task_set(service, arn_for, definition["taskDefinitionArn"], scale,
                                    params.get("externalId"), "EC2", now)
        ids = {existing["id"] for existing in service["taskSets"]}
        memory.task_set_tokens = {t: i for t, i in memory.task_set_tokens.items() if i in ids}  # gone ones forgotten
        if token:
            memory.task_set_tokens[token] = ts["id"]
        service["taskSets"].append(ts)
        store.put_service(service, memory)
        store.put_tags(ts["taskSetArn"], tags)
    nudge(ctx, service["serviceArn"])
    return ts, True


def update_scale(ctx: Context, params: Doc, scale: Doc) -> Doc:
    """UpdateTaskSet: the task set with its new scale (and desired count)."""
    now = ctx.clock.now()
    with _changing_task_set(ctx, params, "taskSet") as (service, ts):
        if ts["status"] == "DRAINING":
            raise errors.InvalidParameterException("The task set is being deleted and cannot be updated.")
        ts["scale"] = scale
        ts["computedDesiredCount"] = task_sets.computed_count(service["desiredCount"], scale)
        ts["updatedAt"] = now
    return ts


def delete(ctx: Context, params: Doc) -> Doc:
    """DeleteTaskSet: the task set, DRAINING (not the primary; one scaled above 0 only with force)."""
    now = ctx.clock.now()
    with _changing_task_set(ctx, params, "taskSet") as (_service, ts):
        if ts["status"] == "PRIMARY":
            raise errors.InvalidParameterException(
                "The primary task set cannot be deleted; make another task set primary first.")
        if ts["computedDesiredCount"] > 0 and ts["status"] != "DRAINING" and not params.get("force"):
            raise errors.InvalidParameterException(
                "The task set cannot be deleted while it is scaled above 0; scale it to 0 or use force.")
        ts["status"] = "DRAINING"
        ts["updatedAt"] = now
    return ts


def make_primary(ctx: Context, params: Doc) -> Doc:
    """UpdateServicePrimaryTaskSet: the task set, PRIMARY (the previous primary ACTIVE)."""
    now = ctx.clock.now()
    with _changing_task_set(ctx, params, "primaryTaskSet") as (service, ts):
        if ts["status"] == "DRAINING":
            raise errors.InvalidParameterException("A task set being deleted cannot become the primary task set.")
        for other in service["taskSets"]:
            if other is not ts and other["status"] == "PRIMARY":
                other["status"] = "ACTIVE"
                other["updatedAt"] = now
        ts["status"] = "PRIMARY"
        ts["updatedAt"] = now
        service["taskDefinition"] = ts["taskDefinition"]
    return ts


@contextmanager
def _changing_task_set(ctx: Context, params: Doc, member: str) -> Iterator[tuple[Doc, Doc]]:
    """(service, the task set `params[member]` names) inside one transaction:
    the service is stored when the block succeeds, then the scheduler nudged."""
    with ctx.store.transaction():
        _cluster, service = external_service(ctx, params.get("cluster"), params["service"])
        ts = _find(service, params[member])
        yield service, ts
        ctx.store.put_service(service)
    nudge(ctx, service["serviceArn"])
