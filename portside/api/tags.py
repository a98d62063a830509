"""Tags: TagResource, UntagResource, ListTagsForResource on clusters, task
definitions, container instances, tasks, services, daemons and daemon task
definitions (control/tags.py finds the resource and keeps the tag rules)."""

from __future__ import annotations

from typing import Any

from ..control import tags as tagging
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import RESERVED_PREFIX_MESSAGE, reserved, validate_tags
from .context import Context


@operation("TagResource")
def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tagging.tag_resource(ctx, params["resourceArn"], validate_tags(params["tags"]))
    return {}


@operation("UntagResource")
def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if any(reserved(key) for key in params["tagKeys"]):
        raise errors.InvalidParameterException(RESERVED_PREFIX_MESSAGE)
    tagging.untag_resource(ctx, params["resourceArn"], params["tagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = tagging.existing_resource(ctx, params["resourceArn"], errors.InvalidParameterException)
    return {"tags": ctx.store.get_tags(arn)}
