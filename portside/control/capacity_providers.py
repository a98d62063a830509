"""Capacity providers as the use cases see them: finding them (FARGATE and
FARGATE_SPOT always exist), checking a cluster's providers and strategies,
and turning a request's strategy (or the cluster's default) into the
providers its tasks launch on; and the use cases that change providers
(CreateCapacityProvider, UpdateCapacityProvider, DeleteCapacityProvider,
PutClusterCapacityProviders), each in its own transaction.  A change to what
capacity exists nudges the service scheduler: every service may act on it.

Providers are kept in the store's records (kind `capacity-provider`, keyed
by name; a Managed Instances provider's parent is its cluster).
"""

from __future__ import annotations

from typing import Any

from ..domain import capacity_providers as cp
from ..protocol import errors
from .lookup import require_cluster
from .services import nudge

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


def _problem(exc: cp.CapacityProviderProblem) -> errors.InvalidParameterException:
    return errors.InvalidParameterException(exc.message)


def create(ctx: Any, params: Doc, tags: list[dict[str, str]]) -> Doc:
    """CreateCapacityProvider (name and tags already checked): the new provider."""
    name = params["name"]
    with ctx.store.transaction():
        cluster_name = None
        if params.get("cluster"):
            cluster_name = require_cluster(ctx, params["cluster"])["clusterName"]
        existing = get(ctx, name)
        if existing is not None and existing["status"] != "INACTIVE":
            raise errors.InvalidParameterException(
                "The specified capacity provider already exists. To change the configuration of an existing "
                "capacity provider, update the capacity provider.")
        try:
            doc = cp.new_provider(arn(ctx, name), params, cluster_name)
        except cp.CapacityProviderProblem as exc:
            raise _problem(exc) from exc
        put(ctx, doc)
        ctx.store.remove_tags(doc["capacityProviderArn"],
                              [t["key"] for t in ctx.store.get_tags(doc["capacityProviderArn"])])
        ctx.store.put_tags(doc["capacityProviderArn"], tags)
    return doc


def _changeable(ctx: Any, params: Doc, identifier: str, verb: str) -> Doc:
    """The provider an Update/Delete names: it exists, is not INACTIVE and is not AWS's."""
    if params.get("cluster"):
        require_cluster(ctx, params["cluster"])
    doc = get(ctx, identifier)
    if doc is None or doc["status"] == "INACTIVE":
        raise errors.InvalidParameterException("The specified capacity provider does not exist.")
    if doc["name"] in cp.FARGATE_PROVIDERS:
        raise errors.InvalidParameterException(
            f"The {doc['name']} capacity provider is managed by AWS and cannot be {verb}.")
    return doc


def update(ctx: Any, params: Doc) -> Doc:
    """UpdateCapacityProvider: the provider as it is now."""
    with ctx.store.transaction():
        nudge(ctx)
        doc = _changeable(ctx, params, params["name"], "updated")
        try:
            doc = cp.update_provider(doc, params)
        except cp.CapacityProviderProblem as exc:
            raise _problem(exc) from exc
        put(ctx, doc)
    return doc


def delete(ctx: Any, params: Doc) -> Doc:
    """DeleteCapacityProvider: the answer AWS gives (DELETE_IN_PROGRESS); the
    stored provider is INACTIVE from now on (nothing here needs draining)."""
    with ctx.store.transaction():
        doc = _changeable(ctx, params, params["capacityProvider"], "deleted")
        if in_use(ctx, doc["name"]):
            raise errors.InvalidParameterException(
                "The specified capacity provider is in use and cannot be removed. Remove the capacity "
                "provider from all clusters and try again.")
        answer = dict(doc, status="ACTIVE", updateStatus="DELETE_IN_PROGRESS")
        put(ctx, dict(doc, status="INACTIVE", updateStatus="DELETE_COMPLETE"))
    return answer


def put_cluster_providers(ctx: Any, cluster_id: str, names: list[str], strategy: list[Doc]) -> Doc:
    """PutClusterCapacityProviders: the cluster with its new providers and
    default strategy; a provider still used by a task or service cannot be removed."""
    with ctx.store.transaction():
        nudge(ctx)
        cluster = require_cluster(ctx, cluster_id)
        checked = check_cluster_providers(ctx, cluster["clusterName"], names, strategy)
        removed = [n for n in cluster.get("capacityProviders") or [] if n not in names]
        for name in removed:
            if _tasks_use(ctx, cluster, name) or _services_use(ctx, cluster, name):
                raise errors.ResourceInUseException(
                    "The specified capacity provider is in use and cannot be removed.")
        cluster["capacityProviders"] = names
        cluster["defaultCapacityProviderStrategy"] = checked
        ctx.store.put_cluster(cluster)
    return cluster


def _tasks_use(ctx: Any, cluster: Doc, name: str) -> bool:
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


def _services_use(ctx: Any, cluster: Doc, name: str) -> bool:
    for service in ctx.store.services_to_reconcile():
        if service["clusterArn"] == cluster["clusterArn"] and any(
                item["capacityProvider"] == name for item in service.get("capacityProviderStrategy") or []):
            return True
    return False
