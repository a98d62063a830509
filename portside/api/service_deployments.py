"""Service deployments and revisions: ListServiceDeployments,
DescribeServiceDeployments, DescribeServiceRevisions, StopServiceDeployment.

The history itself is kept by control/service_deployments.py whenever a
service's scheduler deployments change; these handlers read it, and
StopServiceDeployment asks it for a rollback.
"""

from __future__ import annotations

from ..control import service_deployments as deployment_history
from ..control.lookup import find_service
from ..control.services import nudge
from ..domain import service_deployment as rules
from ..domain.documents import Doc
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, encode_token, failure, page, require_cluster
from .context import Context


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
        found = deployment_history.locate(ctx, arn, "service-deployment")
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
        found = deployment_history.locate(ctx, arn, "service-revision")
        revision = found[1].revisions.get(arn) if found else None
        if revision is None:
            failures.append(failure(arn, "MISSING"))
        else:
            shown.append(revision.doc)
    return {"serviceRevisions": shown, "failures": failures}


@operation("StopServiceDeployment")
def stop_service_deployment(ctx: Context, params: Doc) -> Doc:
    arn = params["serviceDeploymentArn"]
    deployment_history.stop(ctx, arn, params.get("stopType") or "ROLLBACK")
    nudge(ctx)
    return {"serviceDeploymentArn": arn}


@operation("ContinueServiceDeployment")
def continue_service_deployment(ctx: Context, params: Doc) -> Doc:
    """Continues (or rolls back) a deployment paused at a PAUSE lifecycle hook."""
    arn = params["serviceDeploymentArn"]
    action = params.get("action") or "CONTINUE"
    deployment_history.continue_deployment(ctx, arn, params["hookId"], action)
    nudge(ctx)
    return {"serviceDeploymentArn": arn}
