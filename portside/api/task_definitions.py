"""Task definitions: RegisterTaskDefinition, DescribeTaskDefinition,
DeregisterTaskDefinition, DeleteTaskDefinitions, ListTaskDefinitions,
ListTaskDefinitionFamilies.

What changes a definition is in control/task_definitions.py; control/lookup.py turns a user's
identifier into a definition (for RunTask, StartTask and services too).
"""

from __future__ import annotations

from ..control import task_definitions as definitions
from ..control.lookup import task_definition as resolve
from ..control.lookup import task_definition_name as parse_identifier
from ..control.task_definitions import INVALID_IDENTIFIER
from ..domain.documents import Doc
from ..protocol import errors
from ..protocol.dispatch import operation
from ..scheduler import query
from .common import decode_token, offset_page, page, validate_tags
from .context import Context


def _view(ctx: Context, doc: Doc, include: list[str] | tuple[str, ...]) -> Doc:
    """The response body: the definition, and its tags when asked for."""
    result: Doc = {"taskDefinition": doc}
    if "TAGS" in include:
        result["tags"] = ctx.store.get_tags(doc["taskDefinitionArn"])
    return result


@operation("RegisterTaskDefinition")
def register_task_definition(ctx: Context, params: Doc) -> Doc:
    tags = validate_tags(params.get("tags"))
    for constraint in params.get("placementConstraints") or ():
        if constraint.get("expression"):
            try:
                query.parse(constraint["expression"])
            except query.QueryError as exc:
                raise errors.InvalidParameterException(str(exc)) from exc
    return {"taskDefinition": definitions.register(ctx, params, tags), "tags": tags}


@operation("DescribeTaskDefinition")
def describe_task_definition(ctx: Context, params: Doc) -> Doc:
    doc = resolve(ctx, params["taskDefinition"])
    if doc is None:
        raise errors.ClientException("Unable to describe task definition.")
    return _view(ctx, doc, params.get("include") or ())


@operation("DeregisterTaskDefinition")
def deregister_task_definition(ctx: Context, params: Doc) -> Doc:
    named = parse_identifier(ctx, params["taskDefinition"])
    if named is None:
        raise errors.ClientException(INVALID_IDENTIFIER)
    if named[1] is None:  # AWS never picks a revision on the caller's behalf here
        raise errors.ClientException(
            "A revision must be specified: use family:revision or the full ARN."
        )
    return {"taskDefinition": definitions.deregister(ctx, named[0], named[1])}


@operation("DeleteTaskDefinitions")
def delete_task_definitions(ctx: Context, params: Doc) -> Doc:
    deleted, failures = definitions.delete(ctx, params["taskDefinitions"])
    return {"taskDefinitions": deleted, "failures": failures}


def _offset(params: Doc) -> int:
    """The list position a nextToken we issued points at."""
    offset = decode_token(params.get("nextToken"), 0)
    if isinstance(offset, bool) or offset < 0:
        raise errors.InvalidParameterException("Invalid token " + params["nextToken"][:64])
    return offset


@operation("ListTaskDefinitions")
def list_task_definitions(ctx: Context, params: Doc) -> Doc:
    offset = _offset(params)
    limit = page(params)
    found = ctx.store.list_task_definition_arns(
        params.get("familyPrefix"),
        params.get("status") or "ACTIVE",
        params.get("sort") == "DESC",
        offset,
        limit + 1,
    )
    return offset_page("taskDefinitionArns", found, offset, limit)


@operation("ListTaskDefinitionFamilies")
def list_task_definition_families(ctx: Context, params: Doc) -> Doc:
    offset = _offset(params)
    limit = page(params)
    found = ctx.store.list_families(
        params.get("familyPrefix") or "", params.get("status") or "ACTIVE", offset, limit + 1
    )
    return offset_page("families", found, offset, limit)
