"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

The handlers map a request onto the use cases of control/launch.py and
control/release.py (which own the transactions) and shape the answer.
"""

from __future__ import annotations

import json
from typing import Any

from ..control import launch, release
from ..control.lookup import find_service, instance_arn, task_arn
from ..protocol import errors
from ..protocol.dispatch import operation
from ..protocol.serialize import Encoded, wire_json
from .common import decode_token, failure, page, require_cluster, seq_page, validate_tags
from .context import Context


def task_view(task: dict[str, Any], tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    shown = dict(task)
    if tags is not None:
        shown["tags"] = tags
    else:
        shown.pop("tags", None)
    return shown


MAX_REFERENCE_ID = 1024  # RunTask/StartTask: "a maximum length of 1024 characters"


def _checked_tags(params: dict[str, Any]) -> list[dict[str, str]]:
    """The request's tags, once they and its referenceId (which Portside, like
    ECS, reports nowhere; it is written in the server's placement log line)
    are within AWS's limits."""
    if len(params.get("referenceId") or "") > MAX_REFERENCE_ID:
        raise errors.InvalidParameterException(
            f"referenceId can be at most {MAX_REFERENCE_ID} characters long."
        )
    return validate_tags(params.get("tags"))


@operation("RunTask")
def run_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    created, failures = launch.run_task(ctx, params, _checked_tags(params))
    return {"tasks": created, "failures": failures}


@operation("StartTask")
def start_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    created, failures = launch.start_task(ctx, params, _checked_tags(params))
    return {"tasks": created, "failures": failures}


@operation("StopTask")
def stop_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"task": release.stop_task(ctx, params)}


@operation("DescribeTasks")
def describe_tasks(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    if not params["tasks"]:
        raise errors.InvalidParameterException("Tasks cannot be empty.")
    wanted = [(ident, task_arn(ctx, cluster, ident)) for ident in params["tasks"]]
    found = ctx.store.get_task_documents([arn for _, arn in wanted if arn])
    with_tags = "TAGS" in params.get("include", ())
    shown: list[Encoded] = []
    failures = []
    for identifier, arn in wanted:
        document = found.get(arn) if arn else None
        if arn is None or document is None:
            failures.append(failure(arn or identifier, "MISSING"))
        elif with_tags:
            shown.append(wire_json("Task", json.loads(document) | {"tags": ctx.store.get_tags(arn)}))
        else:
            shown.append(Encoded(document))
    return {"tasks": shown, "failures": failures}


@operation("ListTasks")
def list_tasks(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    desired = params.get("desiredStatus", "RUNNING")
    filters = {"desired_status": desired}
    if params.get("containerInstance"):
        filters["instance_arn"] = instance_arn(ctx, cluster, params["containerInstance"]) or ""
    if params.get("serviceName"):
        service = find_service(ctx, cluster, params["serviceName"])
        if service is None:
            raise errors.ServiceNotFoundException("Service not found.")
        filters["service_name"] = service["serviceName"]
    for member, column in (("family", "family"), ("startedBy", "started_by"), ("launchType", "launch_type")):
        if params.get(member):
            filters[column] = params[member]
    after = decode_token(params.get("nextToken"), 0)
    limit = page(params)
    if desired == "PENDING":  # as AWS documents: a PENDING desired status matches nothing
        return {"taskArns": []}
    rows = ctx.store.list_task_arns(cluster["clusterArn"], filters, after, limit + 1)
    return seq_page("taskArns", rows, limit)
