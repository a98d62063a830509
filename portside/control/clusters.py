"""CreateCluster, DeleteCluster, UpdateCluster and UpdateClusterSettings,
each in its own transaction, and the Fargate capacity cluster Portside keeps
for itself.

A cluster's counts (instances, tasks, services) are never stored beside it:
api/clusters.py derives them when it answers.
"""

from __future__ import annotations

from typing import Any

from ..domain.documents import Doc
from ..domain.fargate import FARGATE_CLUSTER
from ..protocol import errors
from . import account_settings, capacity_providers
from .context import Context
from .lookup import require_cluster

Setting = dict[str, str]

DEFAULT_SETTINGS = [{"name": "containerInsights", "value": "disabled"}]
REGISTERED = ("ACTIVE", "DRAINING")  # the instances a cluster counts (and cannot be deleted with)


def create(ctx: Context, name: str, params: Doc, tags: list[dict[str, str]]) -> tuple[Doc, bool]:
    """(the cluster, whether this call made it): an ACTIVE cluster of that
    name is answered as it is (CreateCluster is idempotent on AWS); otherwise
    a new one with the request's settings, providers and (checked) tags."""
    store = ctx.store
    with store.transaction():
        existing = store.get_cluster(name)
        if existing is not None and existing["status"] == "ACTIVE":
            return existing, False
        names = list(params.get("capacityProviders") or [])
        strategy = capacity_providers.check_cluster_providers(
            ctx, name, names, params.get("defaultCapacityProviderStrategy") or [])
        doc: dict[str, Any] = {
            "clusterArn": ctx.arns.cluster(name),
            "clusterName": name,
            "status": "ACTIVE",
            "settings": merge_settings(_default_settings(ctx), params.get("settings")),
            "configuration": params.get("configuration"),
            "capacityProviders": names,
            "defaultCapacityProviderStrategy": strategy,
            "serviceConnectDefaults": params.get("serviceConnectDefaults"),
        }
        store.put_cluster(doc)
        store.remove_tags(doc["clusterArn"], [t["key"] for t in store.get_tags(doc["clusterArn"])])
        store.put_tags(doc["clusterArn"], tags)
    return doc, True


def delete(ctx: Context, cluster_id: str) -> Doc:
    """The cluster, INACTIVE; refused while it has instances, services or tasks."""
    store = ctx.store
    with store.transaction():
        doc = require_cluster(ctx, cluster_id)
        arn = doc["clusterArn"]
        if store.count_instances(arn, REGISTERED):
            raise errors.ClusterContainsContainerInstancesException(
                "The Cluster cannot be deleted while Container Instances are active or draining."
            )
        if store.count_services(arn, ("ACTIVE", "DRAINING")):
            raise errors.ClusterContainsServicesException(
                "The Cluster cannot be deleted while Services are active."
            )
        if store.cluster_task_counts(arn):
            raise errors.ClusterContainsTasksException(
                "The Cluster cannot be deleted while Tasks are active."
            )
        doc["status"] = "INACTIVE"
        store.put_cluster(doc)
    return doc


def update(ctx: Context, cluster_id: str, params: Doc) -> Doc:
    """UpdateCluster: the settings merged, `configuration` and `serviceConnectDefaults` replaced when given."""
    with ctx.store.transaction():
        doc = require_cluster(ctx, cluster_id)
        if "settings" in params:
            doc["settings"] = merge_settings(doc.get("settings", []), params["settings"])
        for member in ("configuration", "serviceConnectDefaults"):
            if member in params:
                doc[member] = params[member]
        ctx.store.put_cluster(doc)
    return doc


def update_settings(ctx: Context, cluster_id: str, settings: list[Setting]) -> Doc:
    """UpdateClusterSettings: the settings merged into the cluster's."""
    with ctx.store.transaction():
        doc = require_cluster(ctx, cluster_id)
        doc["settings"] = merge_settings(doc.get("settings", []), settings)
        ctx.store.put_cluster(doc)
    return doc


def ensure_fargate_cluster(ctx: Context) -> None:
    """Portside's Fargate capacity cluster, made when its first host registers
    (in the caller's transaction); hidden from ListClusters."""
    if ctx.store.get_cluster(FARGATE_CLUSTER) is None:
        ctx.store.put_cluster({
            "clusterArn": ctx.arns.cluster(FARGATE_CLUSTER), "clusterName": FARGATE_CLUSTER,
            "status": "ACTIVE", "settings": DEFAULT_SETTINGS, "configuration": None,
            "capacityProviders": [], "defaultCapacityProviderStrategy": [], "serviceConnectDefaults": None,
        })


def merge_settings(current: list[Setting], changes: list[Setting] | None) -> list[Setting]:
    merged = {s["name"]: s["value"] for s in current}
    for setting in changes or []:
        if setting.get("value") not in ("enabled", "disabled", "enhanced"):
            raise errors.InvalidParameterException(
                "Cluster setting containerInsights must be 'enabled', 'disabled' or 'enhanced'."
            )
        merged[setting["name"]] = setting["value"]
    return [{"name": n, "value": v} for n, v in merged.items()]


def _default_settings(ctx: Context) -> list[Setting]:
    """A new cluster's settings: containerInsights as the account setting says."""
    return [{"name": "containerInsights", "value": account_settings.effective(ctx, "containerInsights")}]
