"""Container instances: RegisterContainerInstance, DescribeContainerInstances,
ListContainerInstances, DeregisterContainerInstance,
UpdateContainerInstancesState.

Remaining resources are kept on the instance and debited/credited in the same
transaction that places or stops a task; task counts are derived at read time.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from ..arns import new_id
from ..control import container_agent
from ..control.clusters import ensure_fargate_cluster
from ..control.lookup import instance_arn
from ..control.placing import instances_matching
from ..control.services import nudge
from ..domain.capacity_providers import CAPACITY_PROVIDER_ATTRIBUTE
from ..domain.fargate import FARGATE_CLUSTER
from ..domain.resources import InvalidResources, normalise_registered
from ..domain.status import Status
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, failure, page, require_cluster, seq_page, validate_tags
from .context import Context

log = logging.getLogger("portside.instances")

LISTABLE = ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED")


def view(ctx: Context, docs: list[dict[str, Any]], include: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Instances as ECS shows them, with live task counts."""
    counts = ctx.store.instance_task_counts([d["containerInstanceArn"] for d in docs])
    result = []
    for doc in docs:
        arn = doc["containerInstanceArn"]
        shown = {k: v for k, v in doc.items() if k != "tags"}
        shown["agentConnected"] = ctx.agent_connected(doc)
        shown["runningTasksCount"] = counts.get((arn, "RUNNING"), 0)
        shown["pendingTasksCount"] = sum(
            n for (a, s), n in counts.items() if a == arn and Status.of(s) < Status.RUNNING
        )
        if "TAGS" in include:
            shown["tags"] = ctx.store.get_tags(arn)
        result.append(shown)
    return result


@operation("RegisterContainerInstance")
def register_container_instance(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = validate_tags(params.get("tags"))
    identity = _identity(params.get("instanceIdentityDocument"))
    if params.get("instanceIdentityDocumentSignature"):
        # ECS checks it against AWS's signing certificate; no such key exists
        # here, so the document is trusted as the agent's key is (README).
        log.info("instanceIdentityDocumentSignature not verified: Portside has no AWS signing certificate")
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        if ctx.arns.cluster_name(params.get("cluster")) == FARGATE_CLUSTER:
            ensure_fargate_cluster(ctx)
        try:
            cluster = require_cluster(ctx, params.get("cluster"))
        except errors.ClusterNotFoundException:  # what the ECS agent sees
            raise errors.ClientException("Cluster not found.") from None
        try:
            registered = normalise_registered(params.get("totalResources"))
        except InvalidResources as exc:
            raise errors.InvalidParameterException(str(exc)) from exc
        previous = None
        if params.get("containerInstanceArn"):
            arn = instance_arn(ctx, cluster, params["containerInstanceArn"])
            previous = ctx.placement.get_instance(arn) if arn else None
            if previous is None:
                raise errors.InvalidParameterException(
                    "The specified container instance could not be found."
                )
        doc = previous or {
            "containerInstanceArn": ctx.arns.container_instance(cluster["clusterName"], new_id()),
            "clusterArn": cluster["clusterArn"],
            "ec2InstanceId": _ec2_instance_id(identity),
            "registeredAt": now,
            "attachments": [],
            "version": 0,
        }
        doc.update(
            {
                "status": "ACTIVE",
                "agentConnected": True,
                "registeredResources": registered,  # the store derives what remains
                "versionInfo": params.get("versionInfo", doc.get("versionInfo", {})),
                "attributes": _attributes(params.get("attributes"), identity),
                "version": doc["version"] + 1,
            }
        )
        if params.get("platformDevices"):
            doc["platformDevices"] = params["platformDevices"]
        joined = _capacity_provider(ctx, cluster, doc["attributes"])
        if joined:
            doc["capacityProviderName"] = joined
        container_agent.registered_version(doc)
        ctx.placement.put_instance(doc)
        store.put_tags(doc["containerInstanceArn"], tags)
    return {"containerInstance": view(ctx, [doc], ("TAGS",))[0]}


@operation("DescribeContainerInstances")
def describe_container_instances(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    if not params["containerInstances"]:
        raise errors.InvalidParameterException("Container instance cannot be empty.")
    found, failures = [], []
    for identifier in params["containerInstances"]:
        arn = instance_arn(ctx, cluster, identifier)
        doc = ctx.placement.get_instance(arn) if arn else None
        if doc is None:
            failures.append(failure(arn or identifier, "MISSING"))
        else:
            found.append(doc)
    include = tuple(params.get("include", ()))
    return {"containerInstances": view(ctx, found, include), "failures": failures}


@operation("ListContainerInstances")
def list_container_instances(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    statuses = (params["status"],) if params.get("status") else LISTABLE
    after = decode_token(params.get("nextToken"), 0)
    limit = page(params)
    if params.get("filter"):
        rows = instances_matching(ctx, cluster, params["filter"], statuses, after, limit + 1)
    else:
        rows = ctx.store.list_instance_arns(cluster["clusterArn"], statuses, after, limit + 1)
    return seq_page("containerInstanceArns", rows, limit)


@operation("DeregisterContainerInstance")
def deregister_container_instance(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    with store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        cluster = require_cluster(ctx, params.get("cluster"))
        arn = instance_arn(ctx, cluster, params["containerInstance"])
        doc = ctx.placement.get_instance(arn) if arn else None
        if arn is None or doc is None or doc["status"] == "INACTIVE":
            raise errors.InvalidParameterException(
                "The specified container instance could not be found."
            )
        if store.live_tasks_on(arn) and not params.get("force"):
            raise errors.InvalidParameterException("Found running tasks on the instance.")
        doc["status"] = "INACTIVE"
        doc["agentConnected"] = False
        doc["version"] += 1
        ctx.placement.put_instance(doc)
    ctx.wakeups.notify(arn)
    return {"containerInstance": view(ctx, [doc])[0]}


@operation("UpdateContainerInstancesState")
def update_container_instances_state(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    status = params["status"]
    if status not in ("ACTIVE", "DRAINING"):
        raise errors.InvalidParameterException(
            "Container instances can only be set to ACTIVE or DRAINING."
        )
    store = ctx.store
    updated, failures = [], []
    with store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        cluster = require_cluster(ctx, params.get("cluster"))
        for identifier in params["containerInstances"]:
            arn = instance_arn(ctx, cluster, identifier)
            doc = ctx.placement.get_instance(arn) if arn else None
            if doc is None or doc["status"] == "INACTIVE":
                failures.append(failure(arn or identifier, "MISSING"))
                continue
            if doc["status"] != status:
                doc["status"] = status
                doc["version"] += 1
                ctx.placement.put_instance(doc)
            updated.append(doc)
    return {"containerInstances": view(ctx, updated), "failures": failures}


def _capacity_provider(ctx: Context, cluster: dict[str, Any], attributes: list[dict[str, Any]]) -> str | None:
    """The capacity provider the agent joined (`portside agent --capacity-provider
    NAME` sends it as an attribute): an ACTIVE EC2 provider (a Managed
    Instances one of this cluster)."""
    from ..control import capacity_providers

    name = next((a.get("value") for a in attributes if a["name"] == CAPACITY_PROVIDER_ATTRIBUTE), None)
    if not name:
        return None
    doc = capacity_providers.get(ctx, name)
    if doc is None or doc["status"] != "ACTIVE" or doc.get("type") in ("FARGATE", "FARGATE_SPOT"):
        raise errors.ClientException(f"The capacity provider {name[:255]} does not exist or is not an EC2 provider.")
    if doc.get("cluster") and doc["cluster"] != cluster["clusterName"]:
        raise errors.ClientException(f"The capacity provider {name} belongs to cluster {doc['cluster']}.")
    return name


def _identity(document: str | None) -> dict[str, Any]:
    """The EC2 instance identity document the agent sent, as a dict ({} when none)."""
    if not document:
        return {}
    try:
        identity = json.loads(document)
    except ValueError:
        identity = None
    if not isinstance(identity, dict):
        raise errors.InvalidParameterException("instanceIdentityDocument is not valid JSON.")
    return identity


def _ec2_instance_id(identity: dict[str, Any]) -> str:
    """The EC2 instance id from the identity document, or a made-up one."""
    instance_id = identity.get("instanceId")
    if isinstance(instance_id, str) and instance_id:
        return instance_id
    return "i-" + uuid.uuid4().hex[:17]


# ECS's built-in attributes and the identity document member each comes from.
_BUILT_IN = {
    "ecs.ami-id": "imageId",
    "ecs.instance-type": "instanceType",
    "ecs.availability-zone": "availabilityZone",
    "ecs.cpu-architecture": "architecture",
}


def _attributes(given: list[dict[str, Any]] | None, identity: dict[str, Any]) -> list[dict[str, Any]]:
    """The attributes the agent sent, with ECS's built-in ones: those the
    identity document gives (`ecs.ami-id`, `ecs.instance-type`,
    `ecs.availability-zone`, `ecs.cpu-architecture`), and `ecs.os-type` /
    `ecs.os-family` (Linux) when the agent did not say."""
    attributes = {a["name"]: a for a in given or [] if a.get("name")}
    for name, member in _BUILT_IN.items():
        value = identity.get(member)
        if isinstance(value, str) and value and name not in attributes:
            attributes[name] = {"name": name, "value": value}
    attributes.setdefault("ecs.os-type", {"name": "ecs.os-type", "value": "linux"})
    attributes.setdefault("ecs.os-family", {"name": "ecs.os-family", "value": "LINUX"})
    return [
        {k: v for k, v in a.items() if k in ("name", "value")} for a in attributes.values()
    ]
