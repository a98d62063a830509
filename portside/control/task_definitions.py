"""RegisterTaskDefinition, DeregisterTaskDefinition and
DeleteTaskDefinitions, each in its own transaction.

Revisions are immutable once registered; only their status moves
(ACTIVE → INACTIVE → DELETE_IN_PROGRESS).  A new revision's number is the
family's last plus one, read and written in one transaction so that two
registrations never get the same number (the store's write lock serialises
them).
"""

from __future__ import annotations

from ..domain import task_definition as td
from ..domain.documents import Doc
from ..protocol import errors
from .context import Context
from .lookup import failure, task_definition_name

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


def register(ctx: Context, params: Doc, tags: list[dict[str, str]]) -> Doc:
    """The new revision of `params["family"]`, stored with its tags (checked by the caller)."""
    family = params["family"]
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
    return doc


def deregister(ctx: Context, family: str, revision: int) -> Doc:
    """The revision, INACTIVE from now on (deregistering again answers the same document)."""
    store = ctx.store
    with store.transaction():
        doc = store.get_task_definition(family, revision)
        if doc is None:
            raise errors.ClientException(NOT_FOUND)
        if doc["status"] == "DELETE_IN_PROGRESS":
            raise errors.ClientException(
                "The specified task definition is being deleted and cannot be deregistered."
            )
        if doc["status"] == "ACTIVE":
            doc["status"] = "INACTIVE"
            doc["deregisteredAt"] = ctx.clock.now()
            store.put_task_definition(doc)
    return doc


def delete(ctx: Context, identifiers: list[str]) -> tuple[list[Doc], list[dict[str, str]]]:
    """DeleteTaskDefinitions: (the INACTIVE revisions now DELETE_IN_PROGRESS,
    a `failures` entry for each identifier that names none)."""
    deleted: list[Doc] = []
    failures: list[dict[str, str]] = []
    store = ctx.store
    with store.transaction():
        for identifier in identifiers:
            named = task_definition_name(ctx, identifier)
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
    return deleted, failures
