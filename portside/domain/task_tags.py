"""The tags a new task is created with: `propagateTags` and ECS managed tags.

ECS copies tags to a task when it starts, never afterwards: from its task
definition (`propagateTags: TASK_DEFINITION`, RunTask, StartTask and
services) or from its service (`SERVICE`, services only), and with
`enableECSManagedTags` it adds `aws:ecs:clusterName` (and, for a service's
tasks, `aws:ecs:serviceName`).  Tags given in the request win over
propagated ones with the same key.  `aws:` keys are reserved: callers can
neither set nor remove them, and they do not count against the 50-tag limit.
"""

from __future__ import annotations

Tag = dict[str, str]

CLUSTER_NAME_TAG = "aws:ecs:clusterName"
SERVICE_NAME_TAG = "aws:ecs:serviceName"


def propagated_from(propagate: str | None, definition_tags: list[Tag], service_tags: list[Tag]) -> list[Tag]:
    """The tags `propagate` copies: the task definition's, the service's, or none."""
    if propagate == "TASK_DEFINITION":
        return definition_tags
    if propagate == "SERVICE":
        return service_tags
    return []


def new_task_tags(
    requested: list[Tag],
    propagated: list[Tag],
    managed: bool,
    cluster_name: str,
    service_name: str | None = None,
) -> list[Tag]:
    """The tags of a new task: propagated ones, overridden key by key by the
    request's, then the managed tags when `managed`."""
    merged = {t["key"]: t["value"] for t in propagated}
    merged.update((t["key"], t["value"]) for t in requested)
    tags = [{"key": key, "value": value} for key, value in merged.items()]
    if managed:
        tags.append({"key": CLUSTER_NAME_TAG, "value": cluster_name})
        if service_name is not None:
            tags.append({"key": SERVICE_NAME_TAG, "value": service_name})
    return tags
