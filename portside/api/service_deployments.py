"""Service deployments and revisions: ListServiceDeployments,
DescribeServiceDeployments, DescribeServiceRevisions, StopServiceDeployment.

The history itself is kept by control/service_deployments.py whenever a
service's scheduler deployments change; these handlers read it, and
StopServiceDeployment starts the rollback deployment.
"""

from __future__ import annotations

from typing import Any

from .. import arns as arn_parsing
from ..control import service_deployments as deployment_history
from ..domain import service as services
from ..domain import service_deployment as rules
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, encode_token, failure, page, require_cluster
from .context import Context
from .services import find_service, nudge

Doc = dict[str, Any]


def _locate(ctx: Context, arn: str, kind: str) -> tuple[Doc, rules.History] | None:
    """The service (and its history) a service-deployment or service-revision
    ARN (`KIND/CLUSTER/SERVICE/ID`) belongs to."""
    parsed = arn_parsing.parse(arn)
    if parsed is None or parsed.kind != kind or len(parsed.parts) != 3 or not ctx.arns.owns(parsed):
        return None
    service = ctx.store.get_service(ctx.arns.service(parsed.parts[0], parsed.parts[1]))
    if service is None:
        return None
    return service, deployment_history.load(ctx.store, service["serviceArn"])


@operation("ListServiceDeployments")
def list_service_deployments(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("cluster"))
    service = find_service(ctx, cluster, params["service"])
    if service is None:
        raise errors.ServiceNotFoundException("Service not found.")
    history = deployment_history.load(ctx.store, service["serviceArn"])
    wanted = set(params.get("status") or ())
    window = params.get("createdAt") or {}
    after, before = window.get("after"), window.get("before")
    shown = []
    for entry in reversed(history.entries):  # newest first
        doc = entry.doc
        if wanted and doc["status"] not in wanted:
            continue
        if after is not None and doc["createdAt"] < after:
            continue
        if before is not None and doc["createdAt"] > before:
            continue
        shown.append(rules.brief(entry))
    offset = decode_token(params.get("nextToken"), 0)
    limit = page(params, 20)
    result: Doc = {"serviceDeployments": shown[offset:offset + limit]}
    if len(shown) > offset + limit:
        result["nextToken"] = encode_token(offset + limit)
    return result


@operation("DescribeServiceDeployments")
def describe_service_deployments(ctx: Context, params: Doc) -> Doc:
    shown, failures = [], []
    for arn in params["serviceDeploymentArns"]:
        found = _locate(ctx, arn, "service-deployment")
        entry = found[1].entry(arn) if found else None
        if entry is None:
            failures.append(failure(arn, "MISSING"))
        else:
            shown.append(entry.doc)
    return {"serviceDeployments": shown, "failures": failures}


@operation("DescribeServiceRevisions")
def describe_service_revisions(ctx: Context, params: Doc) -> Doc:
    shown, failures = [], []
    for arn in params["serviceRevisionArns"]:
        found = _locate(ctx, arn, "service-revision")
        revision = found[1].revisions.get(arn) if found else None
        if revision is None:
            failures.append(failure(arn, "MISSING"))
        else:
            shown.append(revision.doc)
    return {"serviceRevisions": shown, "failures": failures}


@operation("StopServiceDeployment")
def stop_service_deployment(ctx: Context, params: Doc) -> Doc:
    arn = params["serviceDeploymentArn"]
    stop_type = params.get("stopType") or "ROLLBACK"
    if stop_type != "ROLLBACK":
        raise errors.InvalidParameterException(
            f"stopType {stop_type} is not supported. The valid value is ROLLBACK."
        )
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        found = _locate(ctx, arn, "service-deployment")
        entry = found[1].entry(arn) if found else None
        if found is None or entry is None:
            raise errors.ServiceDeploymentNotFoundException(
                f"The service deployment {arn} does not exist."
            )
        service, history = found
        status = entry.doc["status"]
        if status in ("STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
            return {"serviceDeploymentArn": arn}  # already stopping: it goes on
        if status in rules.TERMINAL:
            raise errors.ConflictException(
                f"The service deployment {arn} has already finished ({status}) and cannot be stopped."
            )
        if entry is not history.current() or service["status"] != "ACTIVE":
            raise errors.ConflictException(f"The service deployment {arn} is not the service's current deployment.")
        target = rules.rollback_revision(history, entry)
        if target is None:
            raise errors.InvalidParameterException(
                f"The service deployment {arn} has no previous service revision to roll back to."
            )
        revision = history.revisions[target]
        service["placementConstraints"] = list(revision.placementConstraints)
        service["placementStrategy"] = list(revision.placementStrategy)
        reason = rules.USER_ROLLBACK
        deployment = services.start_deployment(service, revision.doc["taskDefinition"], now, reason)
        services.add_event(service, f"(service {service['serviceName']}) (deployment {deployment['id']}) "
                           f"rolling back to service revision {target}.", now)
        rules.start_rollback(history, entry, deployment, target, reason, now)
        rules.sync(history, service, deployment_history.names(ctx.arns, service), now)
        deployment_history.save(store, service, history)
        store.put_service(service)
    nudge(ctx)
    return {"serviceDeploymentArn": arn}
