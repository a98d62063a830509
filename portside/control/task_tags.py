"""The tags RunTask, StartTask and the service scheduler give a new task
(propagated and ECS managed tags, domain/task_tags.py), read from the store
in the caller's transaction."""

from __future__ import annotations

from ..domain.documents import Doc
from ..domain.task_tags import Tag, new_task_tags, propagated_from
from ..protocol import errors
from .context import Context


def for_run(ctx: Context, cluster: Doc, definition: Doc, params: Doc, requested: list[Tag]) -> list[Tag]:
    """RunTask's and StartTask's: a standalone task has no service to copy from."""
    propagate = params.get("propagateTags")
    if propagate == "SERVICE":
        raise errors.InvalidParameterException(
            "The propagateTags value SERVICE is only valid for a service's tasks; "
            "use TASK_DEFINITION or NONE when running a task."
        )
    propagated = propagated_from(propagate, _definition_tags(ctx, definition, propagate), [])
    return new_task_tags(requested, propagated, bool(params.get("enableECSManagedTags")), cluster["clusterName"])


def for_service(ctx: Context, cluster: Doc, service: Doc, definition: Doc) -> list[Tag]:
    """A service's task's, as the service's propagateTags and
    enableECSManagedTags say when the task starts."""
    propagate = service.get("propagateTags")
    service_tags = ctx.store.get_tags(service["serviceArn"]) if propagate == "SERVICE" else []
    propagated = propagated_from(propagate, _definition_tags(ctx, definition, propagate), service_tags)
    return new_task_tags([], propagated, bool(service.get("enableECSManagedTags")), cluster["clusterName"],
                         service["serviceName"])


def _definition_tags(ctx: Context, definition: Doc, propagate: str | None) -> list[Tag]:
    return ctx.store.get_tags(definition["taskDefinitionArn"]) if propagate == "TASK_DEFINITION" else []
