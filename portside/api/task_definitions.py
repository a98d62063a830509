"""Task definitions: RegisterTaskDefinition, DescribeTaskDefinition,
DeregisterTaskDefinition, DeleteTaskDefinitions, ListTaskDefinitions,
ListTaskDefinitionFamilies.

Revisions are immutable once registered; only their status moves
(ACTIVE → INACTIVE → DELETE_IN_PROGRESS).  control/lookup.py turns a user's
identifier into a definition (for RunTask, StartTask and services too).
"""

from __future__ import annotations

from ..control.lookup import task_definition as resolve
from ..control.lookup import task_definition_name as parse_identifier
from ..domain import task_definition as td
from ..domain.documents import Doc
from ..protocol import errors
from ..protocol.dispatch import operation
from ..scheduler import query
from .common import decode_token, failure, offset_page, page, validate_tags
from .context import Context

STILL_ACTIVE = (
    "The specified task definition is still in ACTIVE status. "
    "Please deregister the target and try again."
)
NOT_FOUND = "The specified task definition does not exist."
# DeleteTaskDefinitions' failure reason is the longer form (moto and other
# peers built against AWS answer it word for word).
NOT_FOUND_TO_DELETE = (
    "The specified task definition does not exist. Specify a valid account, family, revision and try again."
)
INVALID_IDENTIFIER = (
    "The specified task definition identifier is invalid. "
    "Specify a valid name or ARN and try again."
)


def _view(ctx: Context, doc: Doc, include: list[str] | tuple[str, ...]) -> Doc:
    """The response body: the definition, and its tags when asked for."""
    result: Doc = {"taskDefinition": doc}
    if "TAGS" in include:
        result["tags"] = ctx.store.get_tags(doc["taskDefinitionArn"])
    return result


@operation("RegisterTaskDefinition")
def register_task_definition(ctx: Context, params: Doc) -> Doc:
    tags = validate_tags(params.get("tags"))
    family = params["family"]
    for constraint in params.get("placementConstraints") or ():
        if constraint.get("expression"):
            try:
                query.parse(constraint["expression"])
            except query.QueryError as exc:
                raise errors.InvalidParameterException(str(exc)) from exc
    store = ctx.store
    with store.transaction():  # revision numbering is serialised by the write lock
        revision = store.last_revision(family) + 1
        try:
            doc = td.build(
                params,
                arn=ctx.arns.task_definition(family, revision),
                revision=revision,
                registered_at=ctx.clock.now(),
                registered_by=f"arn:aws:iam::{ctx.arns.account}:root",
            )
        except td.InvalidTaskDefinition as exc:
            raise errors.ClientException(exc.message) from exc
        store.put_task_definition(doc)
        store.put_tags(doc["taskDefinitionArn"], tags)
    return {"taskDefinition": doc, "tags": tags}


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
    store = ctx.store
    with store.transaction():
        doc = store.get_task_definition(*named)
        if doc is None:
            raise errors.ClientException(NOT_FOUND)
        if doc["status"] == "DELETE_IN_PROGRESS":
            raise errors.ClientException(
                "The specified task definition is being deleted and cannot be deregistered."
            )
        if doc["status"] == "ACTIVE":  # deregistering again answers the same document
            doc["status"] = "INACTIVE"
            doc["deregisteredAt"] = ctx.clock.now()
            store.put_task_definition(doc)
    return {"taskDefinition": doc}


@operation("DeleteTaskDefinitions")
def delete_task_definitions(ctx: Context, params: Doc) -> Doc:
    deleted: list[Doc] = []
    failures: list[dict[str, str]] = []
    store = ctx.store
    with store.transaction():
        for identifier in params["taskDefinitions"]:
            named = parse_identifier(ctx, identifier)
            if named is None or named[1] is None:
                failures.append(failure(identifier, INVALID_IDENTIFIER))
                continue
            family, revision = named[0], named[1]
            arn = ctx.arns.task_definition(family, revision)
            doc = store.get_task_definition(family, revision)
            if doc is None:
                failures.append(failure(arn, NOT_FOUND_TO_DELETE))
                continue
            if doc["status"] == "ACTIVE":
                failures.append(failure(arn, STILL_ACTIVE))
                continue
            if doc["status"] == "INACTIVE":
                doc["status"] = "DELETE_IN_PROGRESS"
                doc["deleteRequestedAt"] = ctx.clock.now()
                store.put_task_definition(doc)
            deleted.append(doc)
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
