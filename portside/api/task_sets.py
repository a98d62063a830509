"""Task sets (services with the EXTERNAL deployment controller):
CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet,
UpdateServicePrimaryTaskSet.  The service scheduler keeps each task set's
tasks running (domain/task_set.py has the rules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..control.launch import checked_task_definition
from ..control.lookup import find_service
from ..control.placing import placement_rules
from ..control.services import nudge
from ..domain import task_set as task_sets
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import failure, require_cluster, validate_tags
from .context import Context

Doc = dict[str, Any]

_UNSUPPORTED = {
    "loadBalancers": "Load balancers",
    "serviceRegistries": "Service registries",
    "capacityProviderStrategy": "Capacity provider strategies for task sets",
}


def _service(ctx: Context, params: Doc) -> tuple[Doc, Doc]:
    cluster = require_cluster(ctx, params.get("cluster"))
    service = find_service(ctx, cluster, params["service"])
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


def _scale(scale: Doc | None) -> Doc:
    scale = dict(scale or {"value": 100.0, "unit": "PERCENT"})
    value = scale.get("value", 100.0)
    if not 0 <= value <= 100:
        raise errors.InvalidParameterException("The scale value must be between 0 and 100 percent.")
    return {"value": float(value), "unit": scale.get("unit") or "PERCENT"}


def _view(ctx: Context, ts: Doc, with_tags: bool = False) -> Doc:
    shown = dict(ts)
    if with_tags:
        shown["tags"] = ctx.store.get_tags(ts["taskSetArn"])
    return shown


@operation("CreateTaskSet")
def create_task_set(ctx: Context, params: Doc) -> Doc:
    for member, what in _UNSUPPORTED.items():
        if params.get(member):
            raise errors.UnsupportedFeatureException(f"{what} are not supported by Portside.")
    if (params.get("networkConfiguration") or {}).get("awsvpcConfiguration"):
        raise errors.InvalidParameterException("awsvpc network configuration is not supported for task sets.")
    if params.get("launchType") not in (None, "EC2"):
        raise errors.InvalidParameterException(f"Launch type {params['launchType']} is not supported for task sets.")
    if params.get("platformVersion"):
        raise errors.InvalidParameterException("platformVersion applies to the FARGATE launch type only.")
    tags = validate_tags(params.get("tags"))
    scale = _scale(params.get("scale"))
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster, service = _service(ctx, params)
        memory = store.get_service_memory(service["serviceArn"])
        token = params.get("clientToken")
        for existing in service["taskSets"]:
            if token and memory.task_set_tokens.get(token) == existing["id"]:
                return {"taskSet": _view(ctx, existing)}  # a retried CreateTaskSet
        definition = checked_task_definition(ctx, {"taskDefinition": params["taskDefinition"]})
        placement_rules(definition, service.get("placementStrategy"), service.get("placementConstraints"))
        arn_for = lambda ts_id: ctx.arns.task_set(cluster["clusterName"], service["serviceName"], ts_id)  # noqa: E731
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
    return {"taskSet": _view(ctx, ts, with_tags=bool(tags))}


@operation("DescribeTaskSets")
def describe_task_sets(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("cluster"))
    service = find_service(ctx, cluster, params["service"])
    if service is None:
        raise errors.ServiceNotFoundException("Service not found.")
    if service["status"] != "ACTIVE":
        raise errors.ServiceNotActiveException("Service was not ACTIVE.")
    with_tags = "TAGS" in (params.get("include") or ())
    sets = service.get("taskSets") or []
    wanted = params.get("taskSets")
    if not wanted:
        return {"taskSets": [_view(ctx, ts, with_tags) for ts in sets], "failures": []}
    shown, failures = [], []
    for identifier in wanted:
        match = [ts for ts in sets if identifier in (ts["id"], ts["taskSetArn"])]
        if match:
            shown.append(_view(ctx, match[0], with_tags))
        else:
            failures.append(failure(identifier, "MISSING"))
    return {"taskSets": shown, "failures": failures}


@operation("UpdateTaskSet")
def update_task_set(ctx: Context, params: Doc) -> Doc:
    scale = _scale(params["scale"])
    now = ctx.clock.now()
    with _changing_task_set(ctx, params, "taskSet") as (service, ts):
        if ts["status"] == "DRAINING":
            raise errors.InvalidParameterException("The task set is being deleted and cannot be updated.")
        ts["scale"] = scale
        ts["computedDesiredCount"] = task_sets.computed_count(service["desiredCount"], scale)
        ts["updatedAt"] = now
    return {"taskSet": _view(ctx, ts)}


@operation("DeleteTaskSet")
def delete_task_set(ctx: Context, params: Doc) -> Doc:
    now = ctx.clock.now()
    with _changing_task_set(ctx, params, "taskSet") as (service, ts):
        if ts["status"] == "PRIMARY":
            raise errors.InvalidParameterException(
                "The primary task set cannot be deleted; make another task set primary first.")
        if ts["computedDesiredCount"] > 0 and ts["status"] != "DRAINING" and not params.get("force"):
            raise errors.InvalidParameterException(
                "The task set cannot be deleted while it is scaled above 0; scale it to 0 or use force.")
        ts["status"] = "DRAINING"
        ts["updatedAt"] = now
    return {"taskSet": _view(ctx, ts)}


@operation("UpdateServicePrimaryTaskSet")
def update_service_primary_task_set(ctx: Context, params: Doc) -> Doc:
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
    return {"taskSet": _view(ctx, ts)}


@contextmanager
def _changing_task_set(ctx: Context, params: Doc, member: str) -> Iterator[tuple[Doc, Doc]]:
    """(service, the task set `params[member]` names) inside one transaction:
    the service is stored when the block succeeds, then the scheduler nudged."""
    with ctx.store.transaction():
        _cluster, service = _service(ctx, params)
        ts = _find(service, params[member])
        yield service, ts
        ctx.store.put_service(service)
    nudge(ctx, service["serviceArn"])
