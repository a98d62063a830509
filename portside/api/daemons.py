"""Daemons and daemon task definitions: RegisterDaemonTaskDefinition,
DescribeDaemonTaskDefinition, ListDaemonTaskDefinitions,
DeleteDaemonTaskDefinition, CreateDaemon, DescribeDaemon, ListDaemons,
UpdateDaemon, DeleteDaemon, ListDaemonDeployments, DescribeDaemonDeployments,
DescribeDaemonRevisions.

The use cases are in control/daemons.py, the rules in domain/daemon.py; the
daemon scheduler (scheduler/daemon_reconciler.py) runs the tasks.
"""

from __future__ import annotations

from ..control import daemons
from ..domain import daemon as rules
from ..domain.documents import Doc
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, failure, offset_page, page, require_cluster, validate_tags
from .context import Context

DESCRIBE_LIMIT = 20


def _offset(params: Doc) -> int:
    offset = decode_token(params.get("nextToken"), 0)
    if isinstance(offset, bool) or offset < 0:
        raise errors.InvalidParameterException("Invalid token " + params["nextToken"][:64])
    return offset


def _max_results(params: Doc, default: int) -> int:
    limit = params.get("maxResults")
    if limit is not None and not 1 <= limit <= 100:
        raise errors.InvalidParameterException("maxResults must be between 1 and 100.")
    return page(params, default)


@operation("RegisterDaemonTaskDefinition")
def register_daemon_task_definition(ctx: Context, params: Doc) -> Doc:
    tags = validate_tags(params.get("tags"))
    doc = daemons.register_definition(ctx, params, tags)
    return {"daemonTaskDefinitionArn": doc["daemonTaskDefinitionArn"]}


@operation("DescribeDaemonTaskDefinition")
def describe_daemon_task_definition(ctx: Context, params: Doc) -> Doc:
    doc = daemons.definition(ctx, params["daemonTaskDefinition"])
    if doc is None:
        raise errors.ClientException("Unable to describe daemon task definition.")
    return {"daemonTaskDefinition": doc}


@operation("ListDaemonTaskDefinitions")
def list_daemon_task_definitions(ctx: Context, params: Doc) -> Doc:
    offset, limit = _offset(params), _max_results(params, 100)
    found = daemons.list_definitions(ctx, params)
    return offset_page("daemonTaskDefinitions", found[offset:offset + limit + 1], offset, limit)


@operation("DeleteDaemonTaskDefinition")
def delete_daemon_task_definition(ctx: Context, params: Doc) -> Doc:
    doc = daemons.delete_definition(ctx, params["daemonTaskDefinition"])
    return {"daemonTaskDefinitionArn": doc["daemonTaskDefinitionArn"]}


@operation("CreateDaemon")
def create_daemon(ctx: Context, params: Doc) -> Doc:
    tags = validate_tags(params.get("tags"))
    daemon = daemons.create(ctx, params, tags)
    shown = daemon.answer()
    shown.pop("updatedAt", None)
    return shown


@operation("DescribeDaemon")
def describe_daemon(ctx: Context, params: Doc) -> Doc:
    daemon = daemons.require(ctx, params["daemonArn"])
    where, _active, _docs = daemons.instances(ctx, daemon)
    shown = daemon.detail()
    shown["currentRevisions"] = rules.current_revisions(daemon, daemons.tasks(ctx, daemon), where)
    return {"daemon": shown}


@operation("ListDaemons")
def list_daemons(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("clusterArn"))
    offset, limit = _offset(params), _max_results(params, 100)
    wanted = set()
    for identifier in params.get("capacityProviderArns") or []:
        wanted.add(identifier if identifier.startswith("arn:") else
                   f"arn:aws:ecs:{ctx.config.region}:{ctx.config.account_id}:capacity-provider/{identifier}")
    found = []
    for _seq, record in ctx.store.records.children(daemons.KIND, cluster["clusterArn"],
                                                    ("ACTIVE", "DELETE_IN_PROGRESS")):
        daemon = rules.Daemon.from_record(record)
        if wanted and not wanted & set(daemon.capacity_providers):
            continue
        found.append(rules.summary(daemon))
    return offset_page("daemonSummariesList", found[offset:offset + limit + 1], offset, limit)


@operation("UpdateDaemon")
def update_daemon(ctx: Context, params: Doc) -> Doc:
    return daemons.update(ctx, params).answer()


@operation("DeleteDaemon")
def delete_daemon(ctx: Context, params: Doc) -> Doc:
    return daemons.delete(ctx, params["daemonArn"]).answer()


@operation("ListDaemonDeployments")
def list_daemon_deployments(ctx: Context, params: Doc) -> Doc:
    daemon = daemons.require(ctx, params["daemonArn"], errors.ClientException)  # declares no DaemonNotFound
    wanted = set(params.get("status") or ())
    window = params.get("createdAt") or {}
    after, before = window.get("after"), window.get("before")
    shown = []
    for deployment in reversed(daemon.deployments):  # newest first
        if wanted and deployment["status"] not in wanted:
            continue
        if after is not None and deployment["createdAt"] < after:
            continue
        if before is not None and deployment["createdAt"] > before:
            continue
        shown.append(rules.deployment_summary(daemon, deployment))
    offset, limit = _offset(params), _max_results(params, 20)
    return offset_page("daemonDeployments", shown[offset:offset + limit + 1], offset, limit)


@operation("DescribeDaemonDeployments")
def describe_daemon_deployments(ctx: Context, params: Doc) -> Doc:
    arns = params["daemonDeploymentArns"]
    if len(arns) > DESCRIBE_LIMIT:
        raise errors.InvalidParameterException("daemonDeploymentArns can have at most 20 items.")
    shown, failures = [], []
    for arn in arns:
        daemon = daemons.locate(ctx, arn, "daemon-deployment")
        found = [d for d in (daemon.deployments if daemon else []) if d["daemonDeploymentArn"] == arn]
        if found:
            shown.append(found[0])
        else:
            failures.append(failure(arn, "MISSING"))
    return {"daemonDeployments": shown, "failures": failures}


@operation("DescribeDaemonRevisions")
def describe_daemon_revisions(ctx: Context, params: Doc) -> Doc:
    arns = params["daemonRevisionArns"]
    if len(arns) > DESCRIBE_LIMIT:
        raise errors.InvalidParameterException("daemonRevisionArns can have at most 20 items.")
    shown, failures = [], []
    for arn in arns:
        daemon = daemons.locate(ctx, arn, "daemon-revision")
        revision = daemon.revisions.get(arn) if daemon else None
        if revision is None:
            failures.append(failure(arn, "MISSING"))
        else:
            shown.append(revision)
    return {"daemonRevisions": shown, "failures": failures}
