"""Container instances: RegisterContainerInstance, DescribeContainerInstances,
ListContainerInstances, DeregisterContainerInstance,
UpdateContainerInstancesState.

What changes an instance is in control/container_instances.py; task counts
are derived at read time.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..control import container_instances as instances
from ..control.lookup import instance_arn
from ..control.placing import instances_matching
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
    doc = instances.register(ctx, params, identity, tags)
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
    doc = instances.deregister(ctx, params.get("cluster"), params["containerInstance"], bool(params.get("force")))
    return {"containerInstance": view(ctx, [doc])[0]}


@operation("UpdateContainerInstancesState")
def update_container_instances_state(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    status = params["status"]
    if status not in ("ACTIVE", "DRAINING"):
        raise errors.InvalidParameterException(
            "Container instances can only be set to ACTIVE or DRAINING."
        )
    updated, failures = instances.update_state(ctx, params.get("cluster"), params["containerInstances"], status)
    return {"containerInstances": view(ctx, updated), "failures": failures}


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
