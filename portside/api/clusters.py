"""Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster,
UpdateCluster, UpdateClusterSettings.

The counts a cluster reports (instances, running/pending tasks, services) are
derived from the store at read time, never kept beside it.  What changes a
cluster is in control/clusters.py.
"""

from __future__ import annotations

from typing import Any

from ..control import clusters as use_cases
from ..control.clusters import DEFAULT_SETTINGS, REGISTERED
from ..domain.fargate import FARGATE_CLUSTER
from ..domain.status import Status
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, encode_token, failure, page, validate_tags
from .context import Context


@operation("CreateCluster")
def create_cluster(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("clusterName") or "default"
    if name == FARGATE_CLUSTER:
        raise errors.InvalidParameterException(
            f"The cluster name {name} is reserved: Portside keeps its Fargate capacity there.")
    tags = validate_tags(params.get("tags"))
    doc, created = use_cases.create(ctx, name, params, tags)
    if not created:
        return {"cluster": _view(ctx, doc, ())}  # idempotent, as AWS answers
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
    return {"cluster": _view(ctx, use_cases.delete(ctx, params["cluster"]), ())}


@operation("UpdateCluster")
def update_cluster(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"cluster": _view(ctx, use_cases.update(ctx, params["cluster"], params), ("SETTINGS", "CONFIGURATIONS"))}


@operation("UpdateClusterSettings")
def update_cluster_settings(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"cluster": _view(ctx, use_cases.update_settings(ctx, params["cluster"], params["settings"]), ("SETTINGS",))}


def _service_count(ctx: Context, cluster_arn: str, statuses: tuple[str, ...] = ("ACTIVE",)) -> int:
    """The cluster's services in these statuses (ACTIVE by default)."""
    return ctx.store.count_services(cluster_arn, statuses)


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
        "registeredContainerInstancesCount": ctx.store.count_instances(arn, REGISTERED),
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
