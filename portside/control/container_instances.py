"""RegisterContainerInstance, DeregisterContainerInstance and
UpdateContainerInstancesState, each in its own transaction.

An instance's document lives in the placement cache's view of the store
(`ctx.placement`), which keeps its free resources beside it; what remains is
debited and credited in the transactions that place and stop tasks.  Every
change to an instance nudges the service scheduler: every service may act
on it.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..arns import new_id
from ..domain.capacity_providers import CAPACITY_PROVIDER_ATTRIBUTE
from ..domain.documents import Doc
from ..domain.fargate import FARGATE_CLUSTER
from ..domain.resources import InvalidResources, normalise_registered
from ..protocol import errors
from . import capacity_providers, container_agent
from .clusters import ensure_fargate_cluster
from .context import Context
from .lookup import failure, instance_arn, require_cluster
from .services import nudge


def register(ctx: Context, params: Doc, identity: Doc, tags: list[dict[str, str]]) -> Doc:
    """The instance registered (or re-registered, when the request names its
    ARN) with the agent's resources and attributes; `identity` is the EC2
    identity document the agent sent ({} when none), `tags` checked."""
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
    return doc


def deregister(ctx: Context, cluster_id: str | None, identifier: str, force: bool) -> Doc:
    """The instance, INACTIVE; refused while it runs tasks unless `force`.
    Its agent's poll is answered (it learns that it is gone)."""
    store = ctx.store
    with store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        cluster = require_cluster(ctx, cluster_id)
        arn = instance_arn(ctx, cluster, identifier)
        doc = ctx.placement.get_instance(arn) if arn else None
        if arn is None or doc is None or doc["status"] == "INACTIVE":
            raise errors.InvalidParameterException(
                "The specified container instance could not be found."
            )
        if store.live_tasks_on(arn) and not force:
            raise errors.InvalidParameterException("Found running tasks on the instance.")
        doc["status"] = "INACTIVE"
        doc["agentConnected"] = False
        doc["version"] += 1
        ctx.placement.put_instance(doc)
    ctx.wakeups.notify(arn)
    return doc


def update_state(
    ctx: Context, cluster_id: str | None, identifiers: list[str], status: str
) -> tuple[list[Doc], list[dict[str, str]]]:
    """UpdateContainerInstancesState to ACTIVE or DRAINING: (the instances, a
    `failures` entry for each identifier that names no registered one)."""
    store = ctx.store
    updated, failures = [], []
    with store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        cluster = require_cluster(ctx, cluster_id)
        for identifier in identifiers:
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
    return updated, failures


def _capacity_provider(ctx: Context, cluster: Doc, attributes: list[Doc]) -> str | None:
    """The capacity provider the agent joined (`portside agent --capacity-provider
    NAME` sends it as an attribute): an ACTIVE EC2 provider (a Managed
    Instances one of this cluster)."""
    name = next((a.get("value") for a in attributes if a["name"] == CAPACITY_PROVIDER_ATTRIBUTE), None)
    if not name:
        return None
    doc = capacity_providers.get(ctx, name)
    if doc is None or doc["status"] != "ACTIVE" or doc.get("type") in ("FARGATE", "FARGATE_SPOT"):
        raise errors.ClientException(f"The capacity provider {name[:255]} does not exist or is not an EC2 provider.")
    if doc.get("cluster") and doc["cluster"] != cluster["clusterName"]:
        raise errors.ClientException(f"The capacity provider {name} belongs to cluster {doc['cluster']}.")
    return name


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
