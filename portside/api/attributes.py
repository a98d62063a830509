"""Attributes: PutAttributes, ListAttributes, DeleteAttributes.

Attributes are name/value pairs on container instances (the only target type
ECS has), kept in the instance document's `attributes` list, which placement
(`memberOf`, `spread`) and ListContainerInstances' `filter` read.  The agent's
built-in ones (`ecs.*`, `com.amazonaws.ecs.*`) come with registration;
PutAttributes and DeleteAttributes manage custom ones, at most 10 per
instance.  A call's changes are all made or none.
"""

from __future__ import annotations

import re
from typing import Any

from ..control.lookup import instance_arn
from ..control.services import nudge
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, offset_page, page, require_cluster
from .container_instances import LISTABLE
from .context import Context

MAX_CUSTOM = 10
TARGET_TYPE = "container-instance"
NAME = re.compile(r"^[A-Za-z0-9_./\\-]{1,128}$")
VALUE = re.compile(r"^[A-Za-z0-9_.@/\\: -]{1,128}$")
BUILT_IN_PREFIXES = ("ecs.", "com.amazonaws.ecs.")


def is_built_in(name: str) -> bool:
    return name.startswith(BUILT_IN_PREFIXES)


def check_attribute(attribute: dict[str, Any], with_value: bool = True) -> None:
    """AWS's naming rules for an attribute's name and value."""
    name = attribute.get("name") or ""
    if not NAME.match(name):
        raise errors.InvalidParameterException(
            "Attribute names must be 1-128 letters (uppercase and lowercase), numbers, hyphens, "
            "underscores, forward slashes, back slashes or periods."
        )
    value = attribute.get("value")
    if with_value and value is not None and (
        not VALUE.match(value) or value != value.strip()
    ):
        raise errors.InvalidParameterException(
            "Attribute values must be 1-128 letters (uppercase and lowercase), numbers, hyphens, "
            "underscores, periods, at signs, forward slashes, back slashes, colons or spaces, "
            "with no leading or trailing space."
        )


def _target(ctx: Context, cluster: dict[str, Any], attribute: dict[str, Any]) -> str:
    """The full ARN of the container instance an attribute targets."""
    target_id = attribute.get("targetId")
    if not target_id:
        raise errors.InvalidParameterException("An attribute needs a targetId.")
    target_type = attribute.get("targetType")
    if target_type not in (None, TARGET_TYPE):
        raise errors.InvalidParameterException(f"Unsupported targetType {target_type}.")
    if not target_id.startswith("arn:") and target_type is None:
        raise errors.InvalidParameterException(
            "targetType is required when the targetId is not a full ARN."
        )
    arn = instance_arn(ctx, cluster, target_id)
    doc = ctx.placement.get_instance(arn) if arn else None
    if arn is None or doc is None or doc["status"] == "INACTIVE":
        raise errors.TargetNotFoundException(f"Could not find {target_id}.")
    return arn


def _by_target(
    ctx: Context, cluster: dict[str, Any], attributes: list[dict[str, Any]], with_value: bool
) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for attribute in attributes:
        check_attribute(attribute, with_value)
        if is_built_in(attribute["name"]):
            raise errors.InvalidParameterException(
                f"Attribute {attribute['name']} is reserved for Amazon ECS: "
                "only custom attributes can be put or deleted."
            )
        grouped.setdefault(_target(ctx, cluster, attribute), []).append(attribute)
    return grouped


def _instance(ctx: Context, arn: str) -> dict[str, Any]:
    """A copy of the instance `_target` found (the cached one is never changed in place)."""
    doc = ctx.placement.get_instance(arn)
    if doc is None:
        raise errors.TargetNotFoundException(f"Could not find {arn}.")
    return doc


def _replace_attributes(ctx: Context, arn: str, attributes: list[dict[str, Any]]) -> None:
    doc = _instance(ctx, arn)
    doc["attributes"] = attributes
    doc["version"] += 1
    ctx.placement.put_instance(doc)


@operation("PutAttributes")
def put_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        cluster = require_cluster(ctx, params.get("cluster"))
        for arn, given in _by_target(ctx, cluster, params["attributes"], True).items():
            current = {a["name"]: a for a in _instance(ctx, arn).get("attributes") or []}
            for attribute in given:
                entry = {"name": attribute["name"]}
                if attribute.get("value") is not None:
                    entry["value"] = attribute["value"]
                current[attribute["name"]] = entry
            if sum(1 for name in current if not is_built_in(name)) > MAX_CUSTOM:
                raise errors.AttributeLimitExceededException(
                    f"You can apply up to {MAX_CUSTOM} custom attributes for each resource."
                )
            _replace_attributes(ctx, arn, list(current.values()))
    return {"attributes": params["attributes"]}


@operation("DeleteAttributes")
def delete_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        nudge(ctx)  # an instance changed: every service may act on it
        cluster = require_cluster(ctx, params.get("cluster"))
        for arn, given in _by_target(ctx, cluster, params["attributes"], False).items():
            doomed = {a["name"] for a in given}
            kept = [a for a in _instance(ctx, arn).get("attributes") or [] if a["name"] not in doomed]
            _replace_attributes(ctx, arn, kept)
    return {"attributes": params["attributes"]}


@operation("ListAttributes")
def list_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    if params["targetType"] != TARGET_TYPE:
        raise errors.InvalidParameterException(f"Unsupported targetType {params['targetType']}.")
    name, value = params.get("attributeName"), params.get("attributeValue")
    if value is not None and name is None:
        raise errors.InvalidParameterException(
            "attributeName must be specified when attributeValue is."
        )
    offset = decode_token(params.get("nextToken"), 0)
    if isinstance(offset, bool) or offset < 0:
        raise errors.InvalidParameterException("Invalid token " + params["nextToken"][:64])
    limit = page(params)
    found: list[dict[str, Any]] = []
    for doc in ctx.placement.list_instances(cluster["clusterArn"], LISTABLE):
        for attribute in doc.get("attributes") or ():
            if name is not None and attribute["name"] != name:
                continue
            if value is not None and attribute.get("value") != value:
                continue
            entry = {"name": attribute["name"], "targetType": TARGET_TYPE,
                     "targetId": doc["containerInstanceArn"]}
            if attribute.get("value") is not None:
                entry["value"] = attribute["value"]
            found.append(entry)
            if len(found) > offset + limit:
                break
        if len(found) > offset + limit:
            break
    return offset_page("attributes", found[offset : offset + limit + 1], offset, limit)
