"""PutAttributes and DeleteAttributes: custom name/value pairs on container
instances (the only target type ECS has), kept in the instance document's
`attributes` list, which placement (`memberOf`, `spread`) and
ListContainerInstances' `filter` read.  The agent's built-in ones (`ecs.*`,
`com.amazonaws.ecs.*`) come with registration and cannot be put or deleted
here; at most 10 custom ones per instance.  A call's changes are all made or
none (one transaction), and the service scheduler is nudged: an instance
changed, so every service may act on it.
"""

from __future__ import annotations

import re
from typing import Any

from ..protocol import errors
from .context import Context
from .lookup import instance_arn, require_cluster
from .services import nudge

Attribute = dict[str, Any]

MAX_CUSTOM = 10
TARGET_TYPE = "container-instance"
NAME = re.compile(r"^[A-Za-z0-9_./\\-]{1,128}$")
VALUE = re.compile(r"^[A-Za-z0-9_.@/\\: -]{1,128}$")
BUILT_IN_PREFIXES = ("ecs.", "com.amazonaws.ecs.")


def is_built_in(name: str) -> bool:
    return name.startswith(BUILT_IN_PREFIXES)


def check_attribute(attribute: Attribute, with_value: bool = True) -> None:
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


def _target(ctx: Context, cluster: dict[str, Any], attribute: Attribute) -> str:
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
    ctx: Context, cluster: dict[str, Any], attributes: list[Attribute], with_value: bool
) -> dict[str, list[Attribute]]:
    grouped: dict[str, list[Attribute]] = {}
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


def _replace_attributes(ctx: Context, arn: str, attributes: list[Attribute]) -> None:
    doc = _instance(ctx, arn)
    doc["attributes"] = attributes
    doc["version"] += 1
    ctx.placement.put_instance(doc)


def put(ctx: Context, cluster_id: str | None, attributes: list[Attribute]) -> None:
    """PutAttributes, in its own transaction: each attribute set (a name the
    instance has is replaced)."""
    with ctx.store.transaction():
        nudge(ctx)
        cluster = require_cluster(ctx, cluster_id)
        for arn, given in _by_target(ctx, cluster, attributes, True).items():
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


def delete(ctx: Context, cluster_id: str | None, attributes: list[Attribute]) -> None:
    """DeleteAttributes, in its own transaction: each named attribute removed (by name)."""
    with ctx.store.transaction():
        nudge(ctx)
        cluster = require_cluster(ctx, cluster_id)
        for arn, given in _by_target(ctx, cluster, attributes, False).items():
            doomed = {a["name"] for a in given}
            kept = [a for a in _instance(ctx, arn).get("attributes") or [] if a["name"] not in doomed]
            _replace_attributes(ctx, arn, kept)
