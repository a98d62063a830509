"""Tags: TagResource, UntagResource, ListTagsForResource on clusters, task
definitions, container instances, tasks, services, daemons and daemon task
definitions."""

from __future__ import annotations

from typing import Any

from .. import arns
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import MAX_TAGS, RESERVED_PREFIX_MESSAGE, reserved, validate_tags
from .context import Context


def _existing_resource(
    ctx: Context, arn: str, missing: type[errors.ECSError] = errors.ResourceNotFoundException
) -> str:
    """The ARN, once it names a resource this server holds; otherwise the
    `missing` error (ListTagsForResource declares no ResourceNotFoundException:
    a missing cluster is ClusterNotFoundException there, anything else an
    invalid parameter)."""
    parsed = arns.parse(arn)
    if parsed is None or not ctx.arns.owns(parsed):
        raise errors.InvalidParameterException("The ARN provided is invalid.")
    store, parts = ctx.store, parsed.parts
    exists = False
    if parsed.kind == "cluster" and len(parts) == 1:
        cluster = store.get_cluster(parts[0])
        exists = cluster is not None and cluster["status"] == "ACTIVE"
    elif parsed.kind == "task-definition" and len(parts) == 1 and ":" in parts[0]:
        family, _, revision = parts[0].rpartition(":")
        exists = revision.isdigit() and store.get_task_definition(family, int(revision)) is not None
    elif parsed.kind == "container-instance":
        exists = ctx.placement.get_instance(arn) is not None
    elif parsed.kind == "task":
        exists = store.get_task(arn) is not None
    elif parsed.kind == "service" and len(parts) == 2:
        service = store.get_service(arn)
        exists = service is not None and service["status"] != "INACTIVE"
    elif parsed.kind in ("daemon", "daemon-task-definition"):
        record = store.records.get(parsed.kind, arn)
        exists = record is not None and record.get("status") not in ("DELETED", None)
    else:
        raise errors.InvalidParameterException("The ARN provided is invalid.")
    if not exists:
        if missing is errors.ResourceNotFoundException or parsed.kind != "cluster":
            raise missing("The specified resource could not be found.")
        raise errors.ClusterNotFoundException()
    return arn


@operation("TagResource")
def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = validate_tags(params["tags"])
    with ctx.store.transaction():
        arn = _existing_resource(ctx, params["resourceArn"])
        keys = {t["key"] for t in ctx.store.get_tags(arn) if not reserved(t["key"])} | {t["key"] for t in tags}
        if len(keys) > MAX_TAGS:
            raise errors.InvalidParameterException(f"A resource can have at most {MAX_TAGS} tags.")
        ctx.store.put_tags(arn, tags)
    return {}


@operation("UntagResource")
def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if any(reserved(key) for key in params["tagKeys"]):
        raise errors.InvalidParameterException(RESERVED_PREFIX_MESSAGE)
    with ctx.store.transaction():
        arn = _existing_resource(ctx, params["resourceArn"])
        ctx.store.remove_tags(arn, params["tagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = _existing_resource(ctx, params["resourceArn"], errors.InvalidParameterException)
    return {"tags": ctx.store.get_tags(arn)}
