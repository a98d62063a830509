"""Capacity providers: CreateCapacityProvider, DescribeCapacityProviders,
UpdateCapacityProvider, DeleteCapacityProvider, PutClusterCapacityProviders.

What a provider does here (control/capacity_providers.py,
domain/capacity_providers.py): tasks launched with a strategy are split by
base and weight and placed on the instances whose agent joined the provider
(`portside agent --capacity-provider NAME`), or on Portside's Fargate capacity
for FARGATE / FARGATE_SPOT.
"""

from __future__ import annotations

from typing import Any

from ..control import capacity_providers as providers
from ..control.services import nudge
from ..domain import capacity_providers as cp
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, encode_token, failure, require_cluster, validate_tags
from .context import Context

Doc = dict[str, Any]


def _view(ctx: Context, doc: Doc, with_tags: bool = False) -> Doc:
    shown = dict(doc)
    if with_tags:
        shown["tags"] = ctx.store.get_tags(doc["capacityProviderArn"])
    return shown


@operation("CreateCapacityProvider")
def create_capacity_provider(ctx: Context, params: Doc) -> Doc:
    tags = validate_tags(params.get("tags"))
    name = params["name"]
    try:
        cp.check_name(name)
    except cp.CapacityProviderProblem as exc:
        raise errors.InvalidParameterException(exc.message) from exc
    with ctx.store.transaction():
        cluster_name = None
        if params.get("cluster"):
            cluster_name = require_cluster(ctx, params["cluster"])["clusterName"]
        existing = providers.get(ctx, name)
        if existing is not None and existing["status"] != "INACTIVE":
            raise errors.InvalidParameterException(
                "The specified capacity provider already exists. To change the configuration of an existing "
                "capacity provider, update the capacity provider.")
        try:
            doc = cp.new_provider(providers.arn(ctx, name), params, cluster_name)
        except cp.CapacityProviderProblem as exc:
            raise errors.InvalidParameterException(exc.message) from exc
        providers.put(ctx, doc)
        ctx.store.remove_tags(doc["capacityProviderArn"],
                              [t["key"] for t in ctx.store.get_tags(doc["capacityProviderArn"])])
        ctx.store.put_tags(doc["capacityProviderArn"], tags)
    return {"capacityProvider": _view(ctx, doc, with_tags=True)}


@operation("DescribeCapacityProviders")
def describe_capacity_providers(ctx: Context, params: Doc) -> Doc:
    with_tags = "TAGS" in (params.get("include") or ())
    if params.get("cluster"):
        require_cluster(ctx, params["cluster"])
    names = params.get("capacityProviders")
    if names:
        if len(names) > 100:
            raise errors.InvalidParameterException("capacityProviders can have at most 100 items.")
        shown, failures = [], []
        for name in names:
            doc = providers.get(ctx, name)
            if doc is None:
                failures.append(failure(name if name.startswith("arn:") else providers.arn(ctx, name), "MISSING"))
            else:
                shown.append(_view(ctx, doc, with_tags))
        return {"capacityProviders": shown, "failures": failures}
    offset = decode_token(params.get("nextToken"), 0)
    if isinstance(offset, bool) or offset < 0:
        raise errors.InvalidParameterException("Invalid token " + params["nextToken"][:64])
    limit = params.get("maxResults") or 10
    if not 1 <= limit <= 10:
        raise errors.InvalidParameterException("maxResults must be between 1 and 10.")
    every = providers.all_providers(ctx)
    result: Doc = {"capacityProviders": [_view(ctx, d, with_tags) for d in every[offset:offset + limit]],
                   "failures": []}
    if offset + limit < len(every):
        result["nextToken"] = encode_token(offset + limit)
    return result


@operation("UpdateCapacityProvider")
def update_capacity_provider(ctx: Context, params: Doc) -> Doc:
    if not params.get("autoScalingGroupProvider") and not params.get("managedInstancesProvider"):
        raise errors.InvalidParameterException(
            "Specify autoScalingGroupProvider or managedInstancesProvider to update.")
    with ctx.store.transaction():
        nudge(ctx)  # capacity changed: every service may act on it
        if params.get("cluster"):
            require_cluster(ctx, params["cluster"])
        doc = providers.get(ctx, params["name"])
        if doc is None or doc["status"] == "INACTIVE":
            raise errors.InvalidParameterException("The specified capacity provider does not exist.")
        if doc["name"] in cp.FARGATE_PROVIDERS:
            raise errors.InvalidParameterException(
                f"The {doc['name']} capacity provider is managed by AWS and cannot be updated.")
        try:
            doc = cp.update_provider(doc, params)
        except cp.CapacityProviderProblem as exc:
            raise errors.InvalidParameterException(exc.message) from exc
        providers.put(ctx, doc)
    return {"capacityProvider": _view(ctx, doc)}


@operation("DeleteCapacityProvider")
def delete_capacity_provider(ctx: Context, params: Doc) -> Doc:
    with ctx.store.transaction():
        if params.get("cluster"):
            require_cluster(ctx, params["cluster"])
        doc = providers.get(ctx, params["capacityProvider"])
        if doc is None or doc["status"] == "INACTIVE":
            raise errors.InvalidParameterException("The specified capacity provider does not exist.")
        if doc["name"] in cp.FARGATE_PROVIDERS:
            raise errors.InvalidParameterException(
                f"The {doc['name']} capacity provider is managed by AWS and cannot be deleted.")
        if providers.in_use(ctx, doc["name"]):
            raise errors.InvalidParameterException(
                "The specified capacity provider is in use and cannot be removed. Remove the capacity "
                "provider from all clusters and try again.")
        answer = dict(doc, status="ACTIVE", updateStatus="DELETE_IN_PROGRESS")
        # Nothing here needs draining: the provider is INACTIVE from now on.
        providers.put(ctx, dict(doc, status="INACTIVE", updateStatus="DELETE_COMPLETE"))
    return {"capacityProvider": answer}


@operation("PutClusterCapacityProviders")
def put_cluster_capacity_providers(ctx: Context, params: Doc) -> Doc:
    from .clusters import cluster_view  # the Cluster shape, counts included

    with ctx.store.transaction():
        nudge(ctx)  # capacity changed: every service may act on it
        cluster = require_cluster(ctx, params["cluster"])
        names = list(params["capacityProviders"])
        strategy = providers.check_cluster_providers(
            ctx, cluster["clusterName"], names, params["defaultCapacityProviderStrategy"])
        removed = [n for n in cluster.get("capacityProviders") or [] if n not in names]
        for name in removed:
            if _tasks_use(ctx, cluster, name) or _services_use(ctx, cluster, name):
                raise errors.ResourceInUseException(
                    "The specified capacity provider is in use and cannot be removed.")
        cluster["capacityProviders"] = names
        cluster["defaultCapacityProviderStrategy"] = strategy
        ctx.store.put_cluster(cluster)
    return {"cluster": cluster_view(ctx, cluster, ("SETTINGS", "CONFIGURATIONS"))}


def _tasks_use(ctx: Context, cluster: Doc, name: str) -> bool:
    """Whether a task of the cluster that is not yet STOPPED runs on the provider."""
    after = 0
    while True:
        rows = ctx.store.list_task_arns(cluster["clusterArn"], {"desired_status": "RUNNING"}, after, 500)
        documents = ctx.store.get_task_documents([arn for _, arn in rows])
        if any(f'"capacityProviderName":"{name}"' in doc for doc in documents.values()):
            return True
        if len(rows) < 500:
            return False
        after = rows[-1][0]


def _services_use(ctx: Context, cluster: Doc, name: str) -> bool:
    for service in ctx.store.services_to_reconcile():
        if service["clusterArn"] == cluster["clusterArn"] and any(
                item["capacityProvider"] == name for item in service.get("capacityProviderStrategy") or []):
            return True
    return False
