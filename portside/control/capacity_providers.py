"""Capacity providers as the use cases see them: finding them (FARGATE and
FARGATE_SPOT always exist), checking a cluster's providers and strategies,
and turning a request's strategy (or the cluster's default) into the
providers its tasks launch on.

Providers are kept in the store's records (kind `capacity-provider`, keyed
by name; a Managed Instances provider's parent is its cluster).
"""

from __future__ import annotations

from typing import Any

from ..domain import capacity_providers as cp
from ..protocol import errors

Doc = dict[str, Any]

KIND = "capacity-provider"
ACCOUNT = "account"  # the parent of providers that belong to no cluster


def get(ctx: Any, name: str) -> Doc | None:
    """The provider of that name (or ARN), any status; FARGATE and FARGATE_SPOT always."""
    name = name.rsplit("/", 1)[-1] if name.startswith("arn:") else name
    if name in cp.FARGATE_PROVIDERS:
        return cp.fargate_provider(arn(ctx, name), name)
    return ctx.store.records.get(KIND, name)


def arn(ctx: Any, name: str) -> str:
    return f"arn:aws:ecs:{ctx.config.region}:{ctx.config.account_id}:capacity-provider/{name}"


def put(ctx: Any, doc: Doc) -> None:
    parent = ctx.arns.cluster(doc["cluster"]) if doc.get("cluster") else ACCOUNT
    ctx.store.records.put(KIND, doc["name"], parent, doc["status"], doc)


def all_providers(ctx: Any) -> list[Doc]:
    """FARGATE, FARGATE_SPOT, then the account's providers in creation order."""
    made = ctx.store.records.of_kind(KIND)
    return [get(ctx, name) for name in cp.FARGATE_PROVIDERS] + made


def check_cluster_providers(ctx: Any, cluster_name: str, names: list[str], strategy: list[Doc]) -> list[Doc]:
    """CreateCluster / PutClusterCapacityProviders: every provider exists and
    is ACTIVE (a Managed Instances provider belongs to this cluster), and the
    default strategy uses only them.  Returns the checked strategy."""
    if len(set(names)) != len(names):
        raise errors.InvalidParameterException("The capacity providers list contains duplicates.")
    kinds = {}
    for name in names:
        doc = get(ctx, name)
        if doc is None or doc["status"] != "ACTIVE":
            raise errors.InvalidParameterException(
                f"The specified capacity provider '{name}' is not in an ACTIVE state. Specify a valid "
                "capacity provider and try again.")
        if doc.get("cluster") and doc["cluster"] != cluster_name:
            raise errors.InvalidParameterException(
                f"The capacity provider '{name}' belongs to cluster {doc['cluster']}.")
        kinds[name] = doc.get("type", "EC2_AUTOSCALING")
    try:
        return cp.check_strategy(strategy, set(names), kinds)
    except cp.CapacityProviderProblem as exc:
        raise errors.InvalidParameterException(exc.message) from exc


def strategy_for(ctx: Any, cluster: Doc, params: Doc) -> list[Doc] | None:
    """The capacity provider strategy a RunTask / CreateService request
    launches with: its own, or the cluster's default when it names neither a
    launch type nor a strategy; None when it launches by launch type."""
    strategy = params.get("capacityProviderStrategy")
    if strategy and params.get("launchType"):
        raise errors.InvalidParameterException(
            "Specifying both a launch type and capacity provider strategy is not supported. "
            "Remove one and try again.")
    if not strategy:
        if params.get("launchType") or not cluster.get("defaultCapacityProviderStrategy"):
            return None
        strategy = cluster["defaultCapacityProviderStrategy"]
    names = list(cluster.get("capacityProviders") or [])
    kinds = {}
    for item in strategy:
        doc = get(ctx, item["capacityProvider"])
        if doc is not None:
            kinds[item["capacityProvider"]] = doc.get("type", "EC2_AUTOSCALING")
    try:
        return cp.check_strategy(strategy, set(names), kinds)
    except cp.CapacityProviderProblem as exc:
        raise errors.InvalidParameterException(exc.message) from exc


def launch_type_of(provider: str) -> str:
    return "FARGATE" if provider in cp.FARGATE_PROVIDERS else "EC2"


def in_use(ctx: Any, name: str) -> bool:
    """Whether a cluster lists the provider (then it cannot be deleted)."""
    after = ""
    while True:
        clusters = ctx.store.list_cluster_arns(after, 100)
        for cluster_arn in clusters:
            doc = ctx.store.get_cluster(cluster_arn.rsplit("/", 1)[1])
            if doc and doc["status"] == "ACTIVE" and name in (doc.get("capacityProviders") or []):
                return True
        if len(clusters) < 100:
            return False
        after = clusters[-1]
