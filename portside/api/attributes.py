"""Attributes: PutAttributes, ListAttributes, DeleteAttributes (what they
are and the rules for changing them: control/attributes.py)."""

from __future__ import annotations

from typing import Any

from ..control import attributes
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, offset_page, page, require_cluster
from .container_instances import LISTABLE
from .context import Context

TARGET_TYPE = attributes.TARGET_TYPE


@operation("PutAttributes")
def put_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    attributes.put(ctx, params.get("cluster"), params["attributes"])
    return {"attributes": params["attributes"]}


@operation("DeleteAttributes")
def delete_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    attributes.delete(ctx, params.get("cluster"), params["attributes"])
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
