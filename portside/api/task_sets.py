"""Task sets (services with the EXTERNAL deployment controller):
CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet,
UpdateServicePrimaryTaskSet.  The service scheduler keeps each task set's
tasks running (domain/task_set.py has the rules); control/task_sets.py makes
the changes."""

from __future__ import annotations

from typing import Any

from ..control import task_sets as changes
from ..control.lookup import find_service
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
    ts, created = changes.create(ctx, params, scale, tags)
    if not created:
        return {"taskSet": _view(ctx, ts)}  # a retried CreateTaskSet
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
    return {"taskSet": _view(ctx, changes.update_scale(ctx, params, _scale(params["scale"])))}


@operation("DeleteTaskSet")
def delete_task_set(ctx: Context, params: Doc) -> Doc:
    return {"taskSet": _view(ctx, changes.delete(ctx, params))}


@operation("UpdateServicePrimaryTaskSet")
def update_service_primary_task_set(ctx: Context, params: Doc) -> Doc:
    return {"taskSet": _view(ctx, changes.make_primary(ctx, params))}
