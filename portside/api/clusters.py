"""Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster,
UpdateCluster, UpdateClusterSettings.

The counts a cluster reports (instances, running/pending tasks, services) are
derived from the store at read time, never kept beside it.
"""

from __future__ import annotations

from typing import Any

from ..control import capacity_providers
from ..domain.fargate import FARGATE_CLUSTER
from ..domain.status import Status
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, encode_token, failure, page, require_cluster, validate_tags
from .context import Context

DEFAULT_SETTINGS = [{"name": "containerInsights", "value": "disabled"}]
_REGISTERED = ("ACTIVE", "DRAINING")


@operation("CreateCluster")
def create_cluster(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("clusterName") or "default"
    if name == FARGATE_CLUSTER:
        raise errors.InvalidParameterException(
            f"The cluster name {name} is reserved: Portside keeps its Fargate capacity there.")
    tags = validate_tags(params.get("tags"))
    store = ctx.store
    with store.transaction():
        existing = store.get_cluster(name)
        if existing is not None and existing["status"] == "ACTIVE":
            return {"cluster": _view(ctx, existing, ())}  # idempotent, as AWS answers
        names = list(params.get("capacityProviders") or [])
        strategy = capacity_providers.check_cluster_providers(
            ctx, name, names, params.get("defaultCapacityProviderStrategy") or [])
        doc: dict[str, Any] = {
            "clusterArn": ctx.arns.cluster(name),
            "clusterName": name,
            "status": "ACTIVE",
            "settings": _merge_settings(_default_settings(ctx), params.get("settings")),
            "configuration": params.get("configuration"),
            "capacityProviders": names,
            "defaultCapacityProviderStrategy": strategy,
            "serviceConnectDefaults": params.get("serviceConnectDefaults"),
        }
        store.put_cluster(doc)
        store.remove_tags(doc["clusterArn"], [t["key"] for t in store.get_tags(doc["clusterArn"])])
        store.put_tags(doc["clusterArn"], tags)
    return {"cluster": _view(ctx, doc, ("SETTINGS", "CONFIGURATIONS", "TAGS"))}


@operation("DescribeClusters")
def describe_clusters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    include = tuple(params.get("include", ()))
    clusters, failures = [], []
    for identifier in params.get("clusters") or ["default"]:
        name = ctx.arns.cluster_name(identifier)
        doc = ctx.store.get_cluster(name)
        if doc is None or (identifier.startswith("arn:") and doc["clusterArn"] != identifier):
            arn = identifier if identifier.startswith("arn:") else ctx.arns.cluster(name)
            failures.append(failure(arn, "MISSING"))
        else:
            clusters.append(_view(ctx, doc, include))
    return {"clusters": clusters, "failures": failures}


@operation("ListClusters")
def list_clusters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    after = decode_token(params.get("nextToken"), "")
    limit = page(params)
    arns = [a for a in ctx.store.list_cluster_arns(after, limit + 2) if a != ctx.arns.cluster(FARGATE_CLUSTER)]
    arns = arns[: limit + 1]
    result: dict[str, Any] = {"clusterArns": arns[:limit]}
    if len(arns) > limit:
        result["nextToken"] = encode_token(arns[limit - 1])
    return result


@operation("DeleteCluster")
def delete_cluster(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    with store.transaction():
        doc = require_cluster(ctx, params["cluster"])
        arn = doc["clusterArn"]
        if store.count_instances(arn, _REGISTERED):
            raise errors.ClusterContainsContainerInstancesException(
                "The Cluster cannot be deleted while Container Instances are active or draining."
            )
        if _service_count(ctx, arn, ("ACTIVE", "DRAINING")):
            raise errors.ClusterContainsServicesException(
                "The Cluster cannot be deleted while Services are active."
            )
        if store.cluster_task_counts(arn):
            raise errors.ClusterContainsTasksException(
                "The Cluster cannot be deleted while Tasks are active."
            )
        doc["status"] = "INACTIVE"
        store.put_cluster(doc)
    return {"cluster": _view(ctx, doc, ())}


@operation("UpdateCluster")
def update_cluster(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        doc = require_cluster(ctx, params["cluster"])
        if "settings" in params:
            doc["settings"] = _merge_settings(doc.get("settings", []), params["settings"])
        for member in ("configuration", "serviceConnectDefaults"):
            if member in params:
                doc[member] = params[member]
        ctx.store.put_cluster(doc)
    return {"cluster": _view(ctx, doc, ("SETTINGS", "CONFIGURATIONS"))}


@operation("UpdateClusterSettings")
def update_cluster_settings(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        doc = require_cluster(ctx, params["cluster"])
        doc["settings"] = _merge_settings(doc.get("settings", []), params["settings"])
        ctx.store.put_cluster(doc)
    return {"cluster": _view(ctx, doc, ("SETTINGS",))}


def ensure_fargate_cluster(ctx: Context) -> None:
    """Portside's Fargate capacity cluster, made when its first host registers
    (in the caller's transaction); hidden from ListClusters."""
    if ctx.store.get_cluster(FARGATE_CLUSTER) is None:
        ctx.store.put_cluster({
            "clusterArn": ctx.arns.cluster(FARGATE_CLUSTER), "clusterName": FARGATE_CLUSTER,
            "status": "ACTIVE", "settings": DEFAULT_SETTINGS, "configuration": None,
            "capacityProviders": [], "defaultCapacityProviderStrategy": [], "serviceConnectDefaults": None,
        })


def _merge_settings(
    current: list[dict[str, str]], changes: list[dict[str, str]] | None
) -> list[dict[str, str]]:
    merged = {s["name"]: s["value"] for s in current}
    for setting in changes or []:
        if setting.get("value") not in ("enabled", "disabled", "enhanced"):
            raise errors.InvalidParameterException(
                "Cluster setting containerInsights must be 'enabled', 'disabled' or 'enhanced'."
            )
        merged[setting["name"]] = setting["value"]
    return [{"name": n, "value": v} for n, v in merged.items()]


def _service_count(ctx: Context, cluster_arn: str, statuses: tuple[str, ...] = ("ACTIVE",)) -> int:
    """The cluster's services in these statuses (ACTIVE by default)."""
    return ctx.store.count_services(cluster_arn, statuses)


def _default_settings(ctx: Context) -> list[dict[str, str]]:
    """A new cluster's settings: containerInsights as the account setting says."""
    from ..control import account_settings  # the account's defaults

    return [{"name": "containerInsights", "value": account_settings.effective(ctx, "containerInsights")}]


def _statistics(ctx: Context, arn: str) -> list[dict[str, str]]:
    """DescribeClusters' STATISTICS: tasks and services split into Fargate
    and the rest (EC2 and EXTERNAL count as EC2, the only other kind listed)."""
    tasks = {"running": {"EC2": 0, "Fargate": 0}, "pending": {"EC2": 0, "Fargate": 0}}
    for (launch_type, status), n in ctx.store.cluster_task_counts_by_launch_type(arn).items():
        phase = "running" if status == "RUNNING" else "pending" if Status.of(status) < Status.RUNNING else None
        if phase:
            tasks[phase]["Fargate" if launch_type == "FARGATE" else "EC2"] += n
    services = {}
    for state, statuses in (("active", ("ACTIVE",)), ("draining", ("DRAINING",))):
        counts = ctx.store.count_services_by_launch_type(arn, statuses)
        fargate = counts.get("FARGATE", 0)
        services[state] = {"EC2": sum(counts.values()) - fargate, "Fargate": fargate}
    return [
        {"name": f"{phase}{kind}TasksCount", "value": str(tasks[phase][kind])}
        for phase in ("running", "pending") for kind in ("EC2", "Fargate")
    ] + [
        {"name": f"{state}{kind}ServiceCount", "value": str(services[state][kind])}
        for state in ("active", "draining") for kind in ("EC2", "Fargate")
    ]


def cluster_view(ctx: Context, doc: dict[str, Any], include: tuple[str, ...]) -> dict[str, Any]:
    return _view(ctx, doc, include)


def _view(ctx: Context, doc: dict[str, Any], include: tuple[str, ...]) -> dict[str, Any]:
    """The Cluster shape with its derived counts; optional parts by `include`."""
    arn = doc["clusterArn"]
    by_status = ctx.store.cluster_task_counts(arn) if doc["status"] == "ACTIVE" else {}
    running = by_status.get("RUNNING", 0)
    pending = sum(n for s, n in by_status.items() if Status.of(s) < Status.RUNNING)
    services = _service_count(ctx, arn)
    view = {
        "clusterArn": arn,
        "clusterName": doc["clusterName"],
        "status": doc["status"],
        "registeredContainerInstancesCount": ctx.store.count_instances(arn, _REGISTERED),
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "activeServicesCount": services,
        "statistics": [],
        "capacityProviders": doc.get("capacityProviders", []),
        "defaultCapacityProviderStrategy": doc.get("defaultCapacityProviderStrategy", []),
    }
    if "SETTINGS" in include:
        view["settings"] = doc.get("settings", DEFAULT_SETTINGS)
    if "CONFIGURATIONS" in include and doc.get("configuration"):
        view["configuration"] = doc["configuration"]
    if "TAGS" in include:
        view["tags"] = ctx.store.get_tags(arn)
    if "STATISTICS" in include:
        view["statistics"] = _statistics(ctx, arn)
    if doc.get("serviceConnectDefaults"):
        view["serviceConnectDefaults"] = doc["serviceConnectDefaults"]
    return view
