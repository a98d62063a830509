"""From what a request names to what the store holds: clusters, task
definitions, instances, tasks and services, each named by a short id, a name
or a full ARN.  Handlers and the schedulers resolve identifiers through here
so that every caller accepts (and refuses) the same spellings."""

from __future__ import annotations

import re
from collections.abc import Callable

from .. import arns as arn_parsing
from ..domain import daemon_task_definition
from ..domain.documents import Doc
from ..domain.task_definition import InvalidTaskDefinition
from ..protocol.errors import ClusterNotFoundException, ServiceNotFoundException
from .context import Context

SERVICE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


def require_cluster(ctx: Context, identifier: str | None) -> Doc:
    """The ACTIVE cluster a request names (default: `default`)."""
    cluster = ctx.store.get_cluster(ctx.arns.cluster_name(identifier))
    if cluster is None or cluster["status"] != "ACTIVE":
        raise ClusterNotFoundException()
    return cluster


def failure(arn: str, reason: str, detail: str | None = None) -> dict[str, str]:
    """The standard entry of a `failures` list."""
    entry = {"arn": arn, "reason": reason}
    if detail:
        entry["detail"] = detail
    return entry


def family_revision(
    ctx: Context, identifier: str, kind: str, family_ok: Callable[[str], bool]
) -> tuple[str, int | None] | None:
    """(family, revision or None) a `family`, `family:revision` or ARN of
    `kind` (`task-definition`, `daemon-task-definition`) names; None when it
    cannot name one of this account and region, or `family_ok` refuses the family."""
    if identifier.startswith("arn:"):
        parsed = arn_parsing.parse(identifier)
        if parsed is None or parsed.kind != kind or len(parsed.parts) != 1 or not ctx.arns.owns(parsed):
            return None
        identifier = parsed.parts[0]
    family, colon, revision = identifier.partition(":")
    if not family_ok(family):
        return None
    if not colon:
        return family, None
    if not revision.isdigit() or int(revision) < 1:
        return None
    return family, int(revision)


def task_definition_name(ctx: Context, identifier: str) -> tuple[str, int | None] | None:
    """(family, revision or None) a `family`, `family:revision` or ARN names;
    None when it cannot name a task definition of this account and region."""
    return family_revision(ctx, identifier, "task-definition", lambda family: 0 < len(family) <= 255)


def task_definition(ctx: Context, identifier: str) -> Doc | None:
    """The stored TaskDefinition a `family` (latest ACTIVE revision),
    `family:revision` or ARN names; a named revision may be INACTIVE or
    DELETE_IN_PROGRESS.  None when there is no such definition.  A daemon
    task definition's ARN (a daemon's tasks carry one) names the
    TaskDefinition it amounts to (domain/daemon_task_definition.py)."""
    if ":daemon-task-definition/" in identifier:
        return _daemon_task_definition(ctx, identifier)
    named = task_definition_name(ctx, identifier)
    if named is None:
        return None
    return ctx.store.get_task_definition(*named)


def instance_arn(ctx: Context, cluster: Doc, identifier: str) -> str | None:
    """The full ARN an id or ARN names within `cluster` (None: not of this cluster)."""
    cluster_name, instance_id = ctx.arns.member_id(identifier, "container-instance")
    if not instance_id or (cluster_name and cluster_name != cluster["clusterName"]):
        return None
    return ctx.arns.container_instance(cluster["clusterName"], instance_id)


def task_arn(ctx: Context, cluster: Doc, identifier: str) -> str | None:
    """The full ARN a task id or ARN names within `cluster`."""
    cluster_name, task_id = ctx.arns.member_id(identifier, "task")
    if not task_id or (cluster_name and cluster_name != cluster["clusterName"]):
        return None
    return ctx.arns.task(cluster["clusterName"], task_id)


def service_arn(ctx: Context, cluster: Doc, identifier: str) -> str | None:
    """The full ARN a service name or ARN names within `cluster`."""
    if identifier.startswith("arn:"):
        parsed = arn_parsing.parse(identifier)
        if parsed is None or parsed.kind != "service" or not ctx.arns.owns(parsed):
            return None
        if len(parsed.parts) == 2:
            if parsed.parts[0] != cluster["clusterName"]:
                return None
            name = parsed.parts[1]
        else:
            name = parsed.parts[-1]
    else:
        name = identifier
    if not SERVICE_NAME.match(name):
        return None
    return ctx.arns.service(cluster["clusterName"], name)


def find_service(ctx: Context, cluster: Doc, identifier: str) -> Doc | None:
    arn = service_arn(ctx, cluster, identifier)
    return ctx.store.get_service(arn) if arn else None


def require_service(ctx: Context, cluster: Doc, identifier: str) -> Doc:
    """The service `identifier` names, in any status."""
    service = find_service(ctx, cluster, identifier)
    if service is None:
        raise ServiceNotFoundException("Service not found.")
    return service


def _daemon_task_definition(ctx: Context, arn: str) -> Doc | None:
    doc = ctx.store.records.get("daemon-task-definition", arn)
    if doc is None:
        return None
    try:
        return daemon_task_definition.as_task_definition(doc)
    except InvalidTaskDefinition:  # registered by an older Portside that checked less
        return None
