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
from ..domain import capacity_providers as cp
from ..protocol import errors
from ..protocol.dispatch import operation
from .clusters import cluster_view  # the Cluster shape, counts included
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
    try:
        cp.check_name(params["name"])
    except cp.CapacityProviderProblem as exc:
        raise errors.InvalidParameterException(exc.message) from exc
    return {"capacityProvider": _view(ctx, providers.create(ctx, params, tags), with_tags=True)}


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
    return {"capacityProvider": _view(ctx, providers.update(ctx, params))}


@operation("DeleteCapacityProvider")
def delete_capacity_provider(ctx: Context, params: Doc) -> Doc:
    return {"capacityProvider": providers.delete(ctx, params)}


@operation("PutClusterCapacityProviders")
def put_cluster_capacity_providers(ctx: Context, params: Doc) -> Doc:
    cluster = providers.put_cluster_providers(
        ctx, params["cluster"], list(params["capacityProviders"]), params["defaultCapacityProviderStrategy"])
    return {"cluster": cluster_view(ctx, cluster, ("SETTINGS", "CONFIGURATIONS"))}
