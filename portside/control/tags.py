"""TagResource and UntagResource on ECS resources (clusters, task
definitions, container instances, tasks, services, daemons and daemon task
definitions): finding the resource an ARN names, and AWS's tag rules that
need the store (at most 50 tags; `aws:` keys are ECS's own, neither set nor
removed by callers, and not counted)."""

from __future__ import annotations

from .. import arns
from ..protocol import errors
from .context import Context

Tag = dict[str, str]

MAX_TAGS = 50  # per resource, not counting the `aws:` tags ECS itself sets
RESERVED_PREFIX_MESSAGE = "Tag keys with the prefix 'aws:' are reserved for AWS use."


def reserved(key: str) -> bool:
    """Whether a tag key is one only AWS (here: Portside's managed tags) may set or remove."""
    return key.lower().startswith("aws:")


def existing_resource(
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


def tag_resource(ctx: Context, arn: str, tags: list[Tag]) -> None:
    """TagResource (tags already checked), in its own transaction: a key the
    resource has is replaced; more than MAX_TAGS in all is refused."""
    with ctx.store.transaction():
        arn = existing_resource(ctx, arn)
        keys = {t["key"] for t in ctx.store.get_tags(arn) if not reserved(t["key"])} | {t["key"] for t in tags}
        if len(keys) > MAX_TAGS:
            raise errors.InvalidParameterException(f"A resource can have at most {MAX_TAGS} tags.")
        ctx.store.put_tags(arn, tags)


def untag_resource(ctx: Context, arn: str, keys: list[str]) -> None:
    """UntagResource (no `aws:` keys), in its own transaction."""
    with ctx.store.transaction():
        arn = existing_resource(ctx, arn)
        ctx.store.remove_tags(arn, keys)


def tags_after(ctx: Context, arn: str, new_keys: list[str]) -> int:
    """How many tags a resource would have with `new_keys` added (a key it
    has already is replaced, not counted twice)."""
    return len({t["key"] for t in ctx.store.get_tags(arn)} | set(new_keys))
