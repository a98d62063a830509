"""SSM Parameter Store's changes (PutParameter, DeleteParameter(s),
(Un)LabelParameterVersion, a parameter's tags), each in its own transaction,
and what the handlers share to find a parameter's version.  api/ssm.py
checks names and shapes the answers.
"""

from __future__ import annotations

import re
from typing import Any

from ..protocol.errors import ServiceError
from ..store.parameters import ParameterVersion
from .context import Context
from .tags import tags_after

Doc = dict[str, Any]

DEFAULT_KEY = "alias/aws/ssm"
MAX_VERSIONS = 100
MAX_LABELS = 10
MAX_VALUE = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}


def error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)


def validation(message: str) -> ServiceError:
    return error("ValidationException", message)


def not_found(name: str) -> ServiceError:
    return error("ParameterNotFound", f"Parameter {name} not found.")


def select(ctx: Context, name: str, selector: str | None) -> ParameterVersion:
    history = ctx.store.parameters.history(name)
    if not history:
        raise not_found(name)
    if selector is None:
        return history[-1]
    if selector.isdigit():
        found = next((p for p in history if p.version == int(selector)), None)
    else:
        found = next((p for p in history if selector in p.labels), None)
    if found is None:
        raise error("ParameterVersionNotFound",
                    f"Systems Manager could not find version {selector} of {name}. Verify the version and try again.")
    return found


def tags_of(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for tag in tags:
        if not 1 <= len(tag["Key"]) <= 128 or len(tag["Value"]) > 256:
            raise validation("Tag keys must be 1-128 characters and values at most 256 characters.")
        out.append({"key": tag["Key"], "value": tag["Value"]})
    return out


def delete_one(ctx: Context, name: str) -> None:
    ctx.store.parameters.delete(name)
    arn = ctx.arns.parameter(name)
    ctx.store.remove_tags(arn, [t["key"] for t in ctx.store.get_tags(arn)])


def tag_target(ctx: Context, params: dict[str, Any]) -> str:
    if params["ResourceType"] != "Parameter":
        raise error("InvalidResourceType", f"ResourceType {params['ResourceType']} is not supported by Portside.")
    name = ctx.arns.parameter_name(params["ResourceId"]) or params["ResourceId"]
    if ctx.store.parameters.latest(name) is None:
        raise error("InvalidResourceId", "The resource ID is not valid. Verify the ID and try again.")
    return ctx.arns.parameter(name)


def put(ctx: Context, params: Doc, overwrite: bool, data_type: str) -> tuple[int, str]:
    """PutParameter (name checked): (the new version, its tier).  What the
    request leaves out is taken from the latest version; at most 100
    versions are kept (the oldest goes, unless it carries a label)."""
    name, value = params["Name"], params["Value"]
    with ctx.store.transaction():
        history = ctx.store.parameters.history(name)
        latest = history[-1] if history else None
        if latest is not None and not overwrite:
            raise error("ParameterAlreadyExists",
                        "The parameter already exists. To overwrite this value, set the overwrite option in the "
                        "request to true.")
        kind = params.get("Type") or (latest.type if latest else None)
        if kind is None:
            raise validation("A parameter type is required when you create a parameter.")
        key_id = params.get("KeyId")
        if key_id is not None and kind != "SecureString":
            raise validation("KeyId is required for SecureString type parameter only.")
        if kind == "SecureString":
            key_id = key_id or (latest.key_id if latest and latest.type == "SecureString" else None) or DEFAULT_KEY
            if key_id != DEFAULT_KEY:
                raise error("InvalidKeyId",
                            f"KeyId {key_id} is not supported by Portside: only the default key {DEFAULT_KEY}.")
        tier = params.get("Tier") or (latest.tier if latest else "Standard")
        if tier == "Intelligent-Tiering":
            tier = "Advanced" if len(value) > MAX_VALUE["Standard"] else "Standard"
        if latest is not None and latest.tier == "Advanced" and tier == "Standard":
            raise validation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter "
                             "from the advanced-parameter tier to the standard-parameter tier.")
        if len(value) > MAX_VALUE[tier]:
            raise validation(
               "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger "
               "parameter value, upgrade the parameter to use the advanced-parameter tier."
                if tier == "Standard"
                else "Advanced tier parameters support a maximum parameter value of 8192 characters."
            )
        pattern = params.get("AllowedPattern", latest.allowed_pattern if latest else None)
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise error("InvalidAllowedPatternException", f"The allowed pattern is not valid: {exc}") from exc
            if not compiled.fullmatch(value):
                raise error("ParameterPatternMismatchException",
                            f"Parameter value, cannot be validated against allowedPattern: {pattern}")
        if len(history) >= MAX_VERSIONS:
            oldest = history[0]
            if oldest.labels:
                raise error("ParameterMaxVersionLimitExceeded",
                            f"You attempted to create a new version of {name} by calling the PutParameter API with "
                            f"the overwrite flag. Version {oldest.version}, the oldest version, can't be deleted "
                            "because it has a label associated with it.")
            ctx.store.parameters.delete_version(name, oldest.version)
        version = (latest.version + 1) if latest else 1
        ctx.store.parameters.add(ParameterVersion(
            name, version, kind, value, params.get("Description", latest.description if latest else None),
            pattern, key_id if kind == "SecureString" else None, tier, data_type, ctx.clock.now(), (),
        ))
        if params.get("Tags"):
            ctx.store.put_tags(ctx.arns.parameter(name), tags_of(params["Tags"]))
    return version, tier


def delete(ctx: Context, name: str) -> None:
    """DeleteParameter: every version and its tags."""
    with ctx.store.transaction():
        if ctx.store.parameters.latest(name) is None:
            raise not_found(name)
        delete_one(ctx, name)


def delete_many(ctx: Context, names: list[str]) -> tuple[list[str], list[str]]:
    """DeleteParameters: (the names deleted, the names of no parameter)."""
    deleted, invalid = [], []
    with ctx.store.transaction():
        for given in names:
            name = ctx.arns.parameter_name(given) or given
            if ctx.store.parameters.latest(name) is None:
                invalid.append(given)
            else:
                delete_one(ctx, name)
                deleted.append(given)
    return deleted, invalid


def label(ctx: Context, name: str, version: int | None, good: list[str]) -> int:
    """LabelParameterVersion (labels checked): the version labelled (default:
    the latest); a label moves from any other version to this one."""
    with ctx.store.transaction():
        history = ctx.store.parameters.history(name)
        if not history:
            raise not_found(name)
        wanted = history[-1].version if version is None else version
        target = next((p for p in history if p.version == wanted), None)
        if target is None:
            raise error("ParameterVersionNotFound",
                        f"Systems Manager could not find version {wanted} of {name}. "
                        "Verify the version and try again.")
        merged = list(dict.fromkeys([*target.labels, *good]))
        if len(merged) > MAX_LABELS:
            raise error("ParameterVersionLabelLimitExceeded",
                        f"A parameter version can have maximum {MAX_LABELS} labels.")
        for other in history:
            if other.version != wanted and set(other.labels) & set(good):
                ctx.store.parameters.set_labels(name, other.version, [x for x in other.labels if x not in good])
        ctx.store.parameters.set_labels(name, wanted, merged)
    return wanted


def unlabel(ctx: Context, name: str, version: int, labels: list[str]) -> list[str]:
    """UnlabelParameterVersion: the labels removed (those the version carried)."""
    with ctx.store.transaction():
        target = select(ctx, name, str(version))
        removed = [x for x in labels if x in target.labels]
        ctx.store.parameters.set_labels(name, target.version, [x for x in target.labels if x not in removed])
    return removed


def add_tags(ctx: Context, params: Doc, tags: list[dict[str, str]]) -> None:
    """AddTagsToResource (tags checked): at most 50 in all."""
    with ctx.store.transaction():
        arn = tag_target(ctx, params)
        if tags_after(ctx, arn, [t["key"] for t in tags]) > 50:
            raise error("TooManyTagsError", "A parameter can have at most 50 tags.")
        ctx.store.put_tags(arn, tags)


def remove_tags(ctx: Context, params: Doc, keys: list[str]) -> None:
    """RemoveTagsFromResource."""
    with ctx.store.transaction():
        ctx.store.remove_tags(tag_target(ctx, params), keys)
